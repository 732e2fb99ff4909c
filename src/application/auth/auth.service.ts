import { Inject, Injectable } from '@nestjs/common';
import { InvalidCredentials, SignupDisabled } from '../../domain/user/user.errors.js';
import { ACCESS_TOKENS, type AccessTokens, type IssuedToken } from '../ports/access-tokens.port.js';
import { PASSWORD_HASHER, type PasswordHasher } from '../ports/password-hasher.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../ports/tenant-directory.port.js';
import { User } from '../user/user.entity.js';
import { type UserView, UsersService } from '../user/users.service.js';

export type Credentials = Readonly<{ tenantId: string; username: string; password: string }>;
export type Signup = Credentials & Readonly<{ taxId: string }>;

@Injectable()
export class AuthService {
  constructor(
    @Inject(TENANT_DIRECTORY) private readonly tenants: TenantDirectory,
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(PASSWORD_HASHER) private readonly hasher: PasswordHasher,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    private readonly users: UsersService,
  ) {}

  /** Unknown tenant, unknown user and wrong password fail alike, and take about as long. */
  async login({ tenantId, username, password }: Credentials): Promise<IssuedToken> {
    const tenant = await this.tenants.find(tenantId);
    if (tenant?.status !== 'active') {
      await this.hasher.verify(password, undefined);
      throw new InvalidCredentials();
    }
    const em = await this.databases.em(tenantId);
    const user = await em.findOne(User, { username });
    const valid = await this.hasher.verify(password, user?.passwordHash);
    if (!user || !valid) throw new InvalidCredentials();
    return this.tokens.issue({ userId: user.id, tenantId, role: user.role });
  }

  /** Open only where the tenant allows it; a self-registered user is always a member. */
  async signup({ tenantId, username, password, taxId }: Signup): Promise<UserView> {
    const tenant = await this.tenants.find(tenantId);
    if (tenant?.status !== 'active' || !tenant.selfSignup) throw new SignupDisabled();
    return this.users.create(tenantId, { username, password, taxId, role: 'member' });
  }
}
