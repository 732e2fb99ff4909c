import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RateLimiterPostgres, type RateLimiterRes } from 'rate-limiter-flexible';
import type { LoginAttempt, LoginThrottle, LoginTicket } from '../../application/auth/login-throttle.port.js';
import { lockedForSeconds, locksAfterFailure, type ThrottleCount } from '../../domain/user/login-throttle.js';
import { LoginLockedOut } from '../../domain/user/user.errors.js';
import { usernameKey } from '../../domain/user/username.js';

export type LoginThrottleOptions = Readonly<{
  /** Failed logins per tenant+username before a lockout (LOGIN_MAX_FAILURES). */
  maxFailures: number;
  /** Failed logins per client address, across usernames and tenants (LOGIN_MAX_FAILURES_PER_ADDRESS). */
  maxFailuresPerAddress: number;
  /** Length of a lockout, and of the window failures are counted in (LOGIN_LOCKOUT_SECONDS). */
  lockoutSeconds: number;
}>;

/** The control-database table rate-limiter-flexible keeps its counters in (created if missing). */
export const LOGIN_THROTTLE_TABLE = 'login_throttle';

/**
 * Keys are hashed: a username may be up to 256 characters (the store's key is varchar(255)), and the
 * table then holds no usernames or addresses in clear. Usernames fold as the user lookup folds them
 * (`usernameKey`): every spelling that logs in as a user counts against that user.
 */
const userKey = ({ tenantId, username }: LoginAttempt): string =>
  createHash('sha256')
    .update(`${tenantId}\u0000${usernameKey(username)}`)
    .digest('hex');
const addressKey = ({ address }: LoginAttempt): string => createHash('sha256').update(address).digest('hex');

const count = (res: RateLimiterRes | null, limit: number): ThrottleCount => ({
  attempts: res?.consumedPoints ?? 0,
  msUntilReset: res?.msBeforeNext ?? 0,
  limit,
});

/**
 * rate-limiter-flexible's PostgreSQL store on the control database, so every instance sees one count
 * (ADR 0011). Each counter is an atomic upsert; a lockout is the library's `block` (points over the
 * limit, expiring LOGIN_LOCKOUT_SECONDS after the lock, not after the first failure).
 */
export class PostgresLoginThrottle implements LoginThrottle {
  private constructor(
    private readonly byUser: RateLimiterPostgres,
    private readonly byAddress: RateLimiterPostgres,
    private readonly options: LoginThrottleOptions,
  ) {}

  /** Creates the table if needed (safe when several instances start at once) and both limiters on it. */
  static async create(pool: pg.Pool, options: LoginThrottleOptions): Promise<PostgresLoginThrottle> {
    const settings = (keyPrefix: string, points: number) => ({
      storeClient: pool,
      storeType: 'pool',
      tableName: LOGIN_THROTTLE_TABLE,
      keyPrefix,
      points,
      duration: options.lockoutSeconds,
    });
    // The first limiter creates the table (CREATE TABLE IF NOT EXISTS) and reports through its callback.
    await new Promise<void>((resolve, reject) => {
      new RateLimiterPostgres(
        { ...settings('setup', 1), tableCreated: false, clearExpiredByTimeout: false },
        (error?: Error) => (error ? reject(error) : resolve()),
      );
    });
    // One of them sweeps expired rows (every 5 min, rows expired over an hour ago): the table stays small.
    const byUser = new RateLimiterPostgres({ ...settings('user', options.maxFailures), tableCreated: true });
    const byAddress = new RateLimiterPostgres({
      ...settings('address', options.maxFailuresPerAddress),
      tableCreated: true,
      clearExpiredByTimeout: false,
    });
    return new PostgresLoginThrottle(byUser, byAddress, options);
  }

  async begin(attempt: LoginAttempt): Promise<LoginTicket> {
    const keys = { user: userKey(attempt), address: addressKey(attempt) };
    const [user, address] = await Promise.all([this.byUser.get(keys.user), this.byAddress.get(keys.address)]);
    this.refuseIfLocked(user, address);
    // Counted before the check: of many concurrent guesses only `limit` get a password check, and each
    // knows its own place in the count.
    const [userNow, addressNow] = await Promise.all([
      this.byUser.penalty(keys.user),
      this.byAddress.penalty(keys.address),
    ]);
    this.refuseIfLocked(userNow, addressNow);
    const { maxFailures, maxFailuresPerAddress, lockoutSeconds } = this.options;
    return {
      succeeded: async () => {
        await Promise.all([this.byUser.delete(keys.user), this.byAddress.reward(keys.address)]);
      },
      abandoned: async () => {
        await Promise.all([this.byUser.reward(keys.user), this.byAddress.reward(keys.address)]);
      },
      failed: async () => {
        const locks: Promise<unknown>[] = [];
        if (locksAfterFailure(count(userNow, maxFailures)))
          locks.push(this.byUser.block(keys.user, lockoutSeconds));
        if (locksAfterFailure(count(addressNow, maxFailuresPerAddress)))
          locks.push(this.byAddress.block(keys.address, lockoutSeconds));
        await Promise.all(locks);
      },
    };
  }

  private refuseIfLocked(user: RateLimiterRes | null, address: RateLimiterRes | null): void {
    const seconds = lockedForSeconds([
      count(user, this.options.maxFailures),
      count(address, this.options.maxFailuresPerAddress),
    ]);
    if (seconds !== undefined) throw new LoginLockedOut(seconds);
  }
}
