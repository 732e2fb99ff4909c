import type { JwtService } from '@nestjs/jwt';
import type { AccessTokens, IssuedToken } from '../../application/ports/access-tokens.port.js';
import type { AuthUser } from '../../application/auth/auth-user.js';

/** The claims of a Conflux access token. */
export type AccessTokenClaims = Readonly<{ sub: string; tid: string; role: AuthUser['role'] }>;

/** HS256 JWTs signed with JWT_SECRET (the JwtModule is configured with the secret and the algorithm). */
export class JwtAccessTokens implements AccessTokens {
  constructor(
    private readonly jwt: JwtService,
    private readonly ttlSeconds: number,
  ) {}

  async issue(user: AuthUser): Promise<IssuedToken> {
    const claims: AccessTokenClaims = { sub: user.userId, tid: user.tenantId, role: user.role };
    const accessToken = await this.jwt.signAsync(claims, { expiresIn: this.ttlSeconds });
    return { accessToken, tokenType: 'Bearer', expiresIn: this.ttlSeconds };
  }
}
