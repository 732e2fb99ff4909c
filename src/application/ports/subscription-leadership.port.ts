/**
 * One consumer at a time per subscription across every instance of the service (issue 8, item 4): an
 * instance runs a subscription only while it leads it; when the leader dies its leadership ends with it
 * and another instance takes over, resuming from the stored checkpoint.
 */
export const SUBSCRIPTION_LEADERSHIP = Symbol('SubscriptionLeadership');

export interface SubscriptionLeadership {
  /**
   * Resolves once this instance leads `name` with a signal that aborts when the leadership is lost (the
   * instance can no longer prove it leads); resolves undefined if `signal` aborts first.
   */
  lead(name: string, signal: AbortSignal): Promise<AbortSignal | undefined>;
  /** Gives up leading `name` (idempotent). */
  release(name: string): Promise<void>;
}
