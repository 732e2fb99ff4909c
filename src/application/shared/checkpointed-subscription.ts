import type { Logger } from '../ports/logger.port.js';
import type { Checkpoint, EventStore, LogFilter, RecordedEvent } from '../ports/event-store.port.js';

export type SubscriptionSpec = Readonly<{
  name: string;
  filter: LogFilter;
  /** Where to resume: the checkpoint the handler last stored with its effect. */
  loadCheckpoint: () => Promise<Checkpoint | undefined>;
  /** Applies one event and stores its checkpoint atomically with the effect (at-least-once delivery). */
  handle: (event: RecordedEvent) => Promise<void>;
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
      for await (const event of store.subscribeToAll({
        ...(after ? { after } : {}),
        filter: spec.filter,
        signal,
      })) {
        await spec.handle(event);
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
