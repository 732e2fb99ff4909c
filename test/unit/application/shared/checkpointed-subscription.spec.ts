import type {
  Checkpoint,
  EventStore,
  RecordedEvent,
} from '../../../../src/application/ports/event-store.port.js';
import type { ParkedEvent, ParkedEvents } from '../../../../src/application/ports/parked-events.port.js';
import type { Logger } from '../../../../src/application/ports/logger.port.js';
import { CheckpointMoved } from '../../../../src/application/ports/checkpoint-fence.port.js';
import {
  runCheckpointedSubscription,
  subscriptionRetryDelay,
  type SubscriptionSpec,
} from '../../../../src/application/shared/checkpointed-subscription.js';
import { createLogger } from '../../../../src/infrastructure/logging/pino-logger.js';
import { memoryLog } from '../../../support/memory-log.js';

class MemoryParked implements Pick<ParkedEvents, 'park'> {
  readonly parked: ParkedEvent[] = [];
  async park(event: ParkedEvent) {
    this.parked.push(event);
  }
}

/**
 * A consumer that stores its checkpoint with its effect, fenced like the real stores (compare-and-set on
 * the checkpoint the page follows), failing as `fails` says; `inFlight` runs inside each page before its
 * store (where another writer can move the checkpoint).
 */
const consumer = (
  fails: (event: RecordedEvent, attempt: number) => Error | undefined,
  inFlight: (page: readonly RecordedEvent[], move: (to: Checkpoint) => void) => void = () => undefined,
) => {
  let checkpoint: Checkpoint | undefined;
  const applied: number[] = [];
  const attempts = new Map<string, number>();
  const follows: (Checkpoint | undefined)[] = [];
  const fenced = (after: Checkpoint | undefined, to: Checkpoint) => {
    if (checkpoint !== after) throw new CheckpointMoved('test', after); // the whole page rolls back
    checkpoint = to;
  };
  const spec: SubscriptionSpec = {
    name: 'test',
    filter: {},
    loadCheckpoint: async () => checkpoint,
    handle: async (page, after) => {
      follows.push(after);
      for (const event of page) {
        const attempt = (attempts.get(event.id) ?? 0) + 1;
        attempts.set(event.id, attempt);
        const error = fails(event, attempt);
        if (error) throw error; // the whole page rolls back
      }
      inFlight(page, (to) => (checkpoint = to));
      fenced(after, page[page.length - 1].checkpoint);
      applied.push(...page.map((e) => (e.data as { i: number }).i));
    },
    skip: async (event, after) => fenced(after, event.checkpoint),
  };
  return { spec, applied, attempts, follows, checkpoint: () => checkpoint };
};

const run = async (
  store: EventStore,
  spec: SubscriptionSpec,
  until: () => boolean,
  runtime: Parameters<typeof runCheckpointedSubscription>[4],
) => {
  const controller = new AbortController();
  const running = runCheckpointedSubscription(
    store,
    spec,
    controller.signal,
    createLogger('silent'),
    runtime,
  );
  const deadline = Date.now() + 10_000;
  while (!until() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  controller.abort();
  await running;
};

describe('runCheckpointedSubscription', () => {
  it('given another writer moves the checkpoint while a page is in flight, when the page rejects with CheckpointMoved, then it resumes from the stored checkpoint, parking and counting nothing', async () => {
    const { store } = memoryLog(5, 1); // one event per page: a counted failure would park it at once
    const parked = new MemoryParked();
    let moved = false;
    const c = consumer(
      () => undefined,
      (page, move) => {
        if (page[0].id !== 'e0' || moved) return;
        moved = true;
        move('2' as Checkpoint); // a new leader applied e0..e2 meanwhile
      },
    );

    await run(store, c.spec, () => c.applied.length >= 2, { maxAttempts: 1, retryDelayMs: 1, parked });

    expect(parked.parked).toEqual([]);
    expect(c.applied).toEqual([3, 4]); // e0 rolled back; e1, e2 were the other writer's
    expect(c.follows).toEqual([undefined, '2', '3']); // each page after the checkpoint it was read after
    expect(c.checkpoint()).toBe('4');
  });

  it('given one event that always fails, when run, then it is parked after maxAttempts and every other event is applied once', async () => {
    const { store } = memoryLog(10);
    const parked = new MemoryParked();
    const c = consumer((event) => (event.id === 'e4' ? new Error('bad field') : undefined));

    await run(store, c.spec, () => c.applied.length >= 9, { maxAttempts: 3, retryDelayMs: 1, parked });

    expect(c.applied).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
    expect(parked.parked).toEqual([
      expect.objectContaining({
        subscription: 'test',
        eventId: 'e4',
        error: 'bad field',
        attempts: 3,
        tenantId: 'acme',
      }),
    ]);
    expect(c.checkpoint()).toBe('9');
  });

  it('given an error that says nothing about the event (transient), when it persists, then nothing is parked', async () => {
    const { store } = memoryLog(3);
    const parked = new MemoryParked();
    const c = consumer((event) => (event.id === 'e1' ? new Error('database down') : undefined));

    await run(store, c.spec, () => (c.attempts.get('e1') ?? 0) >= 8, {
      maxAttempts: 2,
      retryDelayMs: 1,
      maxRetryDelayMs: 2,
      parked,
      isTransient: () => true,
    });

    expect(parked.parked).toEqual([]);
    expect(c.applied).not.toContain(2);
  });

  it('given a poison error (cannot change on retry), when it fails once, then it is parked at once', async () => {
    const { store } = memoryLog(3);
    const parked = new MemoryParked();
    const c = consumer((event) => (event.id === 'e1' ? new TypeError('unknown event type') : undefined));

    await run(store, { ...c.spec, isPoison: (e) => e instanceof TypeError }, () => c.applied.length >= 2, {
      maxAttempts: 5,
      retryDelayMs: 1,
      parked,
    });

    expect(parked.parked.map((p) => [p.eventId, p.attempts])).toEqual([['e1', 1]]);
    expect(c.applied).toEqual([0, 2]);
  });

  it('backs off exponentially between retries, up to the cap', async () => {
    const { store } = memoryLog(1);
    const c = consumer(() => new Error('always'));
    const times: number[] = [];
    const handle = c.spec.handle;
    const spec = {
      ...c.spec,
      handle: async (page: readonly RecordedEvent[], after: Checkpoint | undefined) => (
        times.push(Date.now()),
        handle(page, after)
      ),
    };

    await run(store, spec, () => times.length >= 6, {
      maxAttempts: 100,
      retryDelayMs: 20,
      maxRetryDelayMs: 80,
      random: () => 1, // the top of the jitter range: pauses of exactly 20, 40, 80 ms
    });

    const gaps = times.slice(1).map((t, i) => t - times[i]);
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[1]).toBeGreaterThanOrEqual(35);
    expect(gaps[2]).toBeGreaterThanOrEqual(75);
    expect(Math.max(...gaps)).toBeLessThan(1000);
  });
});

describe('runCheckpointedSubscription on a store that ends its subscriptions (closing)', () => {
  it('given a store whose subscriptions end at once, then it resubscribes after a pause, and timers keep running', async () => {
    let subscriptions = 0;
    const closed = {
      // eslint-disable-next-line require-yield
      async *subscribeToAllPages() {
        subscriptions++;
      },
    } as unknown as EventStore;
    const stop = new AbortController();
    const running = runCheckpointedSubscription(
      closed,
      { name: 'closing', filter: {}, loadCheckpoint: async () => undefined, handle: async () => undefined },
      stop.signal,
      createLogger('silent'),
      { retryDelayMs: 20 },
    );
    // A timer fires: the loop does not starve the event loop (a hot loop on promises would).
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop.abort();
    await running;
    expect(subscriptions).toBeGreaterThan(0);
    expect(subscriptions).toBeLessThanOrEqual(200 / 20 + 2);
  });
});

describe('subscriptionRetryDelay', () => {
  const retry = { baseMs: 1000, capMs: 30_000 };

  it('given successive failures, then the pause doubles, within [half, whole] of base × 2^(n−1)', () => {
    expect([1, 2, 3, 4].map((n) => subscriptionRetryDelay(retry, n, () => 1))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect([1, 2, 3, 4].map((n) => subscriptionRetryDelay(retry, n, () => 0))).toEqual([
      500, 1000, 2000, 4000,
    ]);
  });

  it('given many failures, then it never exceeds the cap', () => {
    expect(subscriptionRetryDelay(retry, 50, () => 1)).toBe(30_000);
    expect(subscriptionRetryDelay(retry, 50, () => 0)).toBe(15_000);
  });
});

type Line = { level: string; message: string; fields: Record<string, unknown> };

const recordingLogger = (lines: Line[]): Logger => {
  const at = (level: string) => (fields: Record<string, unknown> | string, message?: string) =>
    lines.push(
      typeof fields === 'string'
        ? { level, message: fields, fields: {} }
        : { level, message: message ?? '', fields },
    );
  const logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger as unknown as Logger;
};

describe('runCheckpointedSubscription while its database is down', () => {
  it('given a database down for several retries, then it logs one warning, backs off, and one recovery', async () => {
    const lines: Line[] = [];
    const abort = new AbortController();
    let calls = 0;
    const calledAt: number[] = [];
    const handled: RecordedEvent[][] = [];
    const event = { checkpoint: '1' } as unknown as RecordedEvent;
    const store = {
      async *subscribeToAllPages({ signal }: { signal: AbortSignal }) {
        yield [event];
        if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve));
      },
    } as unknown as EventStore;

    const run = runCheckpointedSubscription(
      store,
      {
        name: 'reports:acme',
        filter: {},
        loadCheckpoint: async () => {
          calls += 1;
          calledAt.push(Date.now());
          if (calls <= 4) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
          return undefined;
        },
        handle: async (events) => {
          handled.push([...events]);
          abort.abort();
        },
      },
      abort.signal,
      recordingLogger(lines),
      { retryDelayMs: 20, maxRetryDelayMs: 80 },
    );
    await run;

    expect(calls).toBe(5);
    expect(handled).toHaveLength(1);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].fields).toMatchObject({ subscription: 'reports:acme' });
    expect(JSON.stringify(warnings[0].fields)).not.toContain('    at '); // no stack trace
    expect(lines.filter((l) => l.message === 'subscription recovered')).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(0);
    // Pauses grow: at least half of 20, 40, 80, 80 ms.
    const gaps = calledAt.slice(1).map((t, i) => t - calledAt[i]);
    [10, 20, 40, 40].forEach((least, i) => expect(gaps[i]).toBeGreaterThanOrEqual(least - 2));
  });

  it('given a shutdown during a long backoff, then it returns at once', async () => {
    const abort = new AbortController();
    const store = { subscribeToAllPages: async function* () {} } as unknown as EventStore;
    const started = Date.now();
    const run = runCheckpointedSubscription(
      store,
      {
        name: 'x',
        filter: {},
        loadCheckpoint: async () => {
          setImmediate(() => abort.abort());
          throw new Error('down');
        },
        handle: async () => undefined,
      },
      abort.signal,
      recordingLogger([]),
      { retryDelayMs: 60_000, maxRetryDelayMs: 60_000 },
    );
    await run;
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
