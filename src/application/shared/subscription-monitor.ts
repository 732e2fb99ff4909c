import pLimit from 'p-limit';
import type { Checkpoint, EventStore, LogFilter } from '../ports/event-store.port.js';

type State = {
  filter: LogFilter;
  checkpoint: Checkpoint | undefined;
  lastError: string | undefined;
};

/** How far one subscription is behind the head of the log it follows. */
export type SubscriptionLag = Readonly<{
  /** Events after its checkpoint that it has not applied, counted up to `cap` (then `capped`). */
  behind: number;
  capped: boolean;
  /** Age of the oldest event it has not applied, in seconds (0 when caught up). */
  oldestPendingSeconds: number;
  /** The error of its last failure, until a page succeeds again. */
  lastError?: string;
}>;

/**
 * The subscriptions running in this process and their last stored checkpoint, for readiness detail:
 * subscriber lag per subscription (ADR 0014). Registered by runCheckpointedSubscription.
 */
export class SubscriptionMonitor {
  private readonly subscriptions = new Map<string, State>();

  started(name: string, filter: LogFilter): void {
    this.subscriptions.set(name, { filter, checkpoint: undefined, lastError: undefined });
  }

  checkpointed(name: string, checkpoint: Checkpoint | undefined): void {
    const state = this.subscriptions.get(name);
    if (state) state.checkpoint = checkpoint;
  }

  failed(name: string, error: string): void {
    const state = this.subscriptions.get(name);
    if (state) state.lastError = error;
  }

  recovered(name: string): void {
    const state = this.subscriptions.get(name);
    if (state) state.lastError = undefined;
  }

  stopped(name: string): void {
    this.subscriptions.delete(name);
  }

  /**
   * Lag of every subscription, read from the log (one bounded read each, `cap` events at most). Lag counts
   * events readers can see: an appender's open transaction holds back the subscriber and its lag alike.
   */
  async lag(store: EventStore, cap = 1000, now = new Date()): Promise<Record<string, SubscriptionLag>> {
    // Bounded: one read per subscription, and there is one per tenant.
    const limit = pLimit(4);
    const entries = await Promise.all(
      [...this.subscriptions].map(([name, state]) =>
        limit(async () => {
          const pending = await store.readAll({
            ...(state.checkpoint ? { after: state.checkpoint } : {}),
            filter: state.filter,
            maxCount: cap,
          });
          const oldest = pending[0]?.createdAt;
          const lag: SubscriptionLag = {
            behind: pending.length,
            capped: pending.length >= cap,
            oldestPendingSeconds: oldest ? Math.max(0, (now.getTime() - oldest.getTime()) / 1000) : 0,
            ...(state.lastError ? { lastError: state.lastError } : {}),
          };
          return [name, lag] as const;
        }),
      ),
    );
    return Object.fromEntries(entries);
  }
}
