import { Inject, Injectable } from '@nestjs/common';
import { InvalidCredentials, SignupDisabled } from '../../domain/user/user.errors.js';
import { ACCESS_TOKENS, type AccessTokens, type IssuedToken } from '../ports/access-tokens.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { PASSWORD_HASHER, type PasswordHasher } from '../ports/password-hasher.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../ports/tenant-directory.port.js';
import { findUserByName, type UserView, UsersService } from '../user/users.service.js';
import { LOGIN_THROTTLE, type LoginThrottle } from './login-throttle.port.js';

export type Credentials = Readonly<{ tenantId: string; username: string; password: string }>;
export type Signup = Credentials & Readonly<{ taxId: string }>;
/** Where a login comes from: the client address the throttle counts (Express `req.ip`). */
export type LoginOrigin = Readonly<{ address: string }>;

@Injectable()
export class AuthService {
  private readonly log: Logger;

  constructor(
    @Inject(TENANT_DIRECTORY) private readonly tenants: TenantDirectory,
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(PASSWORD_HASHER) private readonly hasher: PasswordHasher,
    @Inject(ACCESS_TOKENS) private readonly tokens: AccessTokens,
    @Inject(LOGIN_THROTTLE) private readonly throttle: LoginThrottle,
    @Inject(LOGGER) logger: Logger,
    private readonly users: UsersService,
  ) {
    this.log = logger.child({ component: 'auth' });
  }

  /**
   * Unknown tenant, unknown user and wrong password fail alike (401), and take about as long: each costs
   * one password check. Throttled first (429 `LoginLockedOut`, even for the right password, before any
   * hashing), so a flood costs database round trips, not scrypt. Failures are logged at warn with tenant,
   * username and client address — never the password.
   */
  async login(credentials: Credentials, { address }: LoginOrigin): Promise<IssuedToken> {
    const { tenantId, username } = credentials;
    const attempt = { tenantId, username, address };
    let ticket;
    try {
      ticket = await this.throttle.begin(attempt);
    } catch (error) {
      this.log.warn({ tenantId, username, address }, 'login refused: locked out after failed logins');
      throw error;
    }
    let user;
    try {
      user = await this.check(credentials);
    } catch (error) {
      await ticket.abandoned();
      throw error;
    }
    if (!user) {
      await ticket.failed();
      this.log.warn({ tenantId, username, address }, 'login failed');
      throw new InvalidCredentials();
    }
    await ticket.succeeded();
    return this.tokens.issue({ userId: user.id, tenantId, role: user.role });
  }

  /** The user whose password this is, or undefined; always exactly one password check. */
  private async check({ tenantId, username, password }: Credentials) {
    const tenant = await this.tenants.find(tenantId);
    if (tenant?.status !== 'active') {
      await this.hasher.verify(password, undefined);
      return undefined;
    }
    const em = await this.databases.em(tenantId);
    const user = await findUserByName(em, username);
    const valid = await this.hasher.verify(password, user?.passwordHash);
    return user && valid ? user : undefined;
  }

  /**
   * Open only where the tenant allows it; a self-registered user is always a member, and the tax ID they
   * typed is unverified (anyone can type anyone's) until a tenant admin verifies it.
   */
  async signup({ tenantId, username, password, taxId }: Signup): Promise<UserView> {
    const tenant = await this.tenants.find(tenantId);
    if (tenant?.status !== 'active' || !tenant.selfSignup) throw new SignupDisabled();
    return this.users.create(tenantId, { username, password, taxId, role: 'member', taxIdVerified: false });
  }
}
