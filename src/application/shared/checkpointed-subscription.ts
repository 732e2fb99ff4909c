import type { Logger } from '../ports/logger.port.js';
import type { Checkpoint, EventStore, LogFilter, RecordedEvent } from '../ports/event-store.port.js';

/** Events per transaction at most, for every checkpointed consumer. */
const PAGE_SIZE = 1000;

export type SubscriptionSpec = Readonly<{
  name: string;
  filter: LogFilter;
  /** Where to resume: the checkpoint the handler last stored with its effect. */
  loadCheckpoint: () => Promise<Checkpoint | undefined>;
  /**
   * Applies a page of events (in log order) and stores the last one's checkpoint atomically with the
   * effect: one transaction per page, and a crash re-delivers the whole page (at-least-once).
   */
  handle: (events: readonly RecordedEvent[]) => Promise<void>;
}>;

/**
 * Runs a checkpointed subscription until `signal` aborts. Any error restarts it from the stored
 * checkpoint after a pause, so a consumer never skips an event and never needs state in memory.
 */
export const runCheckpointedSubscription = async (
  store: EventStore,
  spec: SubscriptionSpec,
  signal: AbortSignal,
  logger: Logger,
  retryDelayMs = 1000,
): Promise<void> => {
  while (!signal.aborted) {
    try {
      const after = await spec.loadCheckpoint();
      for await (const page of store.subscribeToAllPages({
        ...(after ? { after } : {}),
        filter: spec.filter,
        signal,
        // Large pages while catching up (a replay); live pages are as small as what just arrived.
        batchSize: PAGE_SIZE,
      })) {
        await spec.handle(page);
      }
    } catch (error) {
      if (signal.aborted) return;
      logger.warn(
        { subscription: spec.name, err: error },
        'subscription stopped; resuming from its checkpoint',
      );
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    }
  }
};
