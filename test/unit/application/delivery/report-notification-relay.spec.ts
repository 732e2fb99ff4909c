import {
  type CheckpointMove,
  CheckpointMoved,
} from '../../../../src/application/ports/checkpoint-fence.port.js';
import { ReportNotificationRelay } from '../../../../src/application/delivery/report-notification-relay.js';
import type { Checkpoint } from '../../../../src/application/ports/event-store.port.js';
import type {
  EventStore,
  RecordedEvent,
  SubscribeOptions,
} from '../../../../src/application/ports/event-store.port.js';
import type { DeliveryCheckpoints } from '../../../../src/application/ports/delivery-checkpoints.port.js';
import {
  MessageBusUnavailable,
  type MessageBus,
  type OutgoingMessage,
} from '../../../../src/application/ports/message-bus.port.js';
import type { ParkedEvent, ParkedEvents } from '../../../../src/application/ports/parked-events.port.js';
import { createLogger } from '../../../../src/infrastructure/logging/pino-logger.js';
import { waitUntil } from '../../../support/wait-until.js';

/** Final report events, each its own report, served by a fake log after a checkpoint (its index). */
const events: RecordedEvent[] = Array.from({ length: 6 }, (_, i) => ({
  id: `e${i}`,
  streamName: `report-acme.r${i}`,
  revision: 0,
  type: 'ReportCancelled',
  data: { reportId: `r${i}`, cancelledBy: 'u1', cancelledAt: '2026-11-30T10:00:00.000Z' },
  metadata: { tenantId: 'acme' },
  checkpoint: String(i) as Checkpoint,
  createdAt: new Date('2026-11-30T10:00:00Z'),
}));

const store = {
  async *subscribeToAllPages(options: SubscribeOptions) {
    let next = options.after === undefined ? 0 : Number(options.after) + 1;
    while (next < events.length && !options.signal.aborted) {
      const page = events.slice(next, next + (options.batchSize ?? 1000));
      next += page.length;
      yield page;
    }
    await new Promise((resolve) => options.signal.addEventListener('abort', resolve));
  },
} as unknown as EventStore;

/** A broker that is down for its first `downFor` publishes, then acknowledges. */
class FlakyBus implements MessageBus {
  readonly acknowledged: OutgoingMessage[] = [];
  attempts = 0;
  constructor(private readonly downFor: number) {}
  async connect() {}
  async publish(messages: readonly OutgoingMessage[]) {
    this.attempts += 1;
    if (this.attempts <= this.downFor) throw new MessageBusUnavailable('broker down');
    this.acknowledged.push(...messages);
  }
  async health() {
    return { state: 'up' as const };
  }
  async close() {}
}

class MemoryCheckpoints implements DeliveryCheckpoints {
  readonly stored: Checkpoint[] = [];
  async load() {
    return this.stored.at(-1);
  }
  async store(name: string, move: CheckpointMove) {
    if (move.after !== this.stored.at(-1)) throw new CheckpointMoved(name, move.after);
    this.stored.push(move.to);
  }
}

class MemoryParked implements Pick<ParkedEvents, 'park'> {
  readonly parked: ParkedEvent[] = [];
  async park(event: ParkedEvent) {
    this.parked.push(event);
  }
}

describe('report notification relay (fake broker and log)', () => {
  it('never parks an event while the broker is down, and stores no checkpoint before the ack', async () => {
    const bus = new FlakyBus(8);
    const checkpoints = new MemoryCheckpoints();
    const parked = new MemoryParked();
    const relay = new ReportNotificationRelay(store, bus, checkpoints, createLogger('silent'), {
      maxAttempts: 2, // well below the 8 failed publishes
      retryDelayMs: 1,
      maxRetryDelayMs: 2,
      parked,
    });
    relay.onApplicationBootstrap();
    try {
      await waitUntil('every event is acknowledged', () => bus.acknowledged.length === events.length);
      await waitUntil('the checkpoint is stored', () => checkpoints.stored.at(-1) === '5');
    } finally {
      await relay.beforeApplicationShutdown();
    }
    expect(bus.attempts).toBe(9);
    expect(parked.parked).toEqual([]);
    expect(checkpoints.stored).toEqual(['5']); // one page, checkpointed once, after its ack
    expect(bus.acknowledged.map((m) => m.headers.ce_id)).toEqual(events.map((e) => e.id));
    expect(bus.acknowledged.map((m) => m.key)).toEqual(events.map((_, i) => `r${i}`));
  });
});
