import type { AuthUser } from '../auth/auth-user.js';

/** Issues the bearer tokens users present (JWT HS256, claims `sub`, `tid`, `role`). */
export const ACCESS_TOKENS = Symbol('AccessTokens');

export type IssuedToken = Readonly<{ accessToken: string; tokenType: 'Bearer'; expiresIn: number }>;

export interface AccessTokens {
  issue(user: AuthUser): Promise<IssuedToken>;
}
