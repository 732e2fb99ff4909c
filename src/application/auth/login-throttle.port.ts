/**
 * Counts failed logins per tenant+username and per client address in a store every instance shares,
 * and refuses logins on a locked key (the policy is `src/domain/user/login-throttle.ts`).
 */
export const LOGIN_THROTTLE = Symbol('LoginThrottle');

/** One login attempt as the throttle sees it; never the password. */
export type LoginAttempt = Readonly<{ tenantId: string; username: string; address: string }>;

export interface LoginThrottle {
  /**
   * Called before the password is checked. Throws `LoginLockedOut` (429, `retryAfterSeconds`) when the
   * user's or the address's key is locked; otherwise counts the attempt on both keys (so concurrent
   * guesses cannot overshoot the limit) and returns the ticket to settle once the password is checked.
   */
  begin(attempt: LoginAttempt): Promise<LoginTicket>;
}

export interface LoginTicket {
  /** The password was right: the user's count starts over, the address gets its attempt back. */
  succeeded(): Promise<void>;
  /** The password was wrong (or the user unknown): a key this attempt brought to its limit is locked. */
  failed(): Promise<void>;
  /**
   * The password could not be checked (the tenant database is unreachable, the hashing queue is full):
   * not a guess, so both keys get the attempt back — an outage must not lock anyone out.
   */
  abandoned(): Promise<void>;
}
