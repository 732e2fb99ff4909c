import type { UserRole } from '../user/user.entity.js';

/** Who is calling, as proven by a verified access token. The tenant always comes from here, never a body. */
export type AuthUser = Readonly<{ userId: string; tenantId: string; role: UserRole }>;
