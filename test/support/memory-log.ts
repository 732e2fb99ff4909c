import type {
  Checkpoint,
  EventStore,
  RecordedEvent,
  SubscribeOptions,
} from '../../src/application/ports/event-store.port.js';

/**
 * An in-memory log of `n` events (`e0`…, checkpoint = the index, tenant `acme`) for unit tests of the
 * subscription runner: served in pages of at most `pageSize` after a checkpoint, then idle until aborted.
 */
export const memoryLog = (n: number, pageSize = Infinity): { store: EventStore; events: RecordedEvent[] } => {
  const events: RecordedEvent[] = Array.from({ length: n }, (_, i) => ({
    id: `e${i}`,
    streamName: `report-acme.r${i}`,
    revision: 0,
    type: 'T',
    data: { i },
    metadata: { tenantId: 'acme' },
    checkpoint: String(i) as Checkpoint,
    createdAt: new Date(),
  }));
  const store = {
    async *subscribeToAllPages(options: SubscribeOptions) {
      let next = options.after === undefined ? 0 : Number(options.after) + 1;
      while (next < events.length && !options.signal.aborted) {
        const page = events.slice(next, next + Math.min(pageSize, options.batchSize ?? 1000));
        next += page.length;
        yield page;
      }
      await new Promise((resolve) => options.signal.addEventListener('abort', resolve));
    },
  } as unknown as EventStore;
  return { store, events };
};
