/**
 * Login throttling policy (issue 6, item 7; api.md `LOGIN_MAX_FAILURES`, `LOGIN_LOCKOUT_SECONDS`).
 * Failed logins are counted per key — one for tenant+username, one for the client address — each with
 * its own limit. A key whose count is over its limit is locked: every login on it, even with the right
 * password, is refused until the lock ends. Pure: the counts come from a shared store (PostgreSQL), the
 * caller supplies them.
 */

/** The state of one throttle key as the store reports it. */
export type ThrottleCount = Readonly<{
  /** Attempts counted in the current window (a lock counts as limit + 1). */
  attempts: number;
  /** Milliseconds until the window or the lock ends (≤ 0: already over). */
  msUntilReset: number;
  /** Failures this key tolerates before it locks. */
  limit: number;
}>;

/**
 * Seconds a login must wait, or undefined when no key is locked. A key is locked when its attempts
 * exceed its limit; with several locked keys the longest wait wins. At least 1 s (Retry-After is whole
 * seconds, and 0 would invite an immediate retry).
 */
export const lockedForSeconds = (counts: readonly ThrottleCount[]): number | undefined => {
  const waits = counts.filter((c) => c.attempts > c.limit).map((c) => c.msUntilReset);
  if (waits.length === 0) return undefined;
  return Math.max(1, Math.ceil(Math.max(...waits) / 1000));
};

/**
 * After a failed password check that brought a key to `attempts`: lock it when the limit is reached, so
 * that the limit-th failure is the last one answered 401 and the next attempt gets 429.
 */
export const locksAfterFailure = (count: Pick<ThrottleCount, 'attempts' | 'limit'>): boolean =>
  count.attempts >= count.limit;
