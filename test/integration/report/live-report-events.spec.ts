import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type {
  EventStore,
  NewEvent,
  RecordedEvent,
  SubscribeOptions,
} from '../../../src/application/ports/event-store.port.js';
import type { Logger } from '../../../src/application/ports/logger.port.js';
import { LiveReportEvents } from '../../../src/application/report/live-report-events.js';
import { reportStream } from '../../../src/application/report/report-stream.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { createTestDatabase } from '../../support/database.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: PostgresEventStore;

const silent = { child: () => silent, warn: () => undefined } as unknown as Logger;

const event = (tenantId: string, n: number): NewEvent => ({
  type: 'Tick',
  data: { n },
  metadata: { tenantId },
});

/** The store, tracking the log subscriptions open through it (now and at most at once). */
const counting = (inner: EventStore): { store: EventStore; active: () => number; most: () => number } => {
  let active = 0;
  let most = 0;
  async function* tracked(options: SubscribeOptions): AsyncGenerator<RecordedEvent> {
    active += 1;
    most = Math.max(most, active);
    try {
      yield* inner.subscribeToAll(options);
    } finally {
      active -= 1;
    }
  }
  const store = new Proxy(inner, {
    get: (target, property) => {
      if (property === 'subscribeToAll') return tracked;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, active: () => active, most: () => most };
};

const waitFor = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; !condition(); i++) {
    if (i > 500) throw new Error('Condition not met within 5 s');
    await sleep(10);
  }
};

/** Follows `stream` until it has `until` revisions; returns every revision it was handed, in order. */
const collect = async (live: LiveReportEvents, stream: string, until: number): Promise<number[]> => {
  const abort = new AbortController();
  try {
    const followed = await live.follow(stream, abort.signal);
    const seen = followed.initial.map((e) => e.revision);
    if (seen.length >= until) return seen;
    for await (const recorded of followed.live) {
      seen.push(recorded.revision);
      if (recorded.revision >= until - 1) break;
    }
    return seen;
  } finally {
    abort.abort();
  }
};

beforeAll(async () => {
  db = await createTestDatabase('live_report_events');
  store = await PostgresEventStore.create(db.url, { maxConnections: 20, pollIntervalMs: 50 });
});
afterAll(async () => {
  await store.close();
  await db.drop();
});

describe('LiveReportEvents', () => {
  it('hands every follower each revision of its stream exactly once, in order, over one subscription', async () => {
    const counted = counting(store);
    const live = new LiveReportEvents(counted.store, silent);
    const streams = Array.from({ length: 20 }, (_, i) => reportStream(`t${i % 4}`, `many-${i}`));
    const perStream = 30;
    await Promise.all(streams.map((s, i) => store.appendToStream(s, [event(`t${i % 4}`, 0)])));

    // Appenders write the rest, in ones and twos with pauses, while followers register all along the way.
    const appending = Promise.all(
      streams.map(async (s, i) => {
        for (let n = 1; n < perStream;) {
          const batch = Math.min(perStream - n, 1 + (n % 2));
          await store.appendToStream(
            s,
            Array.from({ length: batch }, (_, k) => event(`t${i % 4}`, n + k)),
          );
          n += batch;
          await sleep(Math.floor(Math.random() * 15));
        }
      }),
    );
    const following = Promise.all(
      streams.flatMap((s) =>
        Array.from({ length: 5 }, async () => {
          await sleep(Math.floor(Math.random() * 150));
          return collect(live, s, perStream);
        }),
      ),
    );
    const [, seen] = await Promise.all([appending, following]);

    const all = Array.from({ length: perStream }, (_, r) => r);
    expect(seen).toHaveLength(100);
    for (const revisions of seen) expect(revisions).toEqual(all);
    expect(counted.most()).toBe(1);
    live.beforeApplicationShutdown();
  });

  it('delivers an event committed late below the point where the shared subscription started', async () => {
    const live = new LiveReportEvents(store, silent);
    const early = reportStream('late', 'early');
    const first = reportStream('late', 'first');
    const other = reportStream('late', 'other');
    await store.appendToStream(early, [event('late', 0)]);

    // A transaction takes its id before the next append does, and commits after it: its event sorts first.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await store.appendWithin(client, early, [event('late', 1)]);
      await store.appendToStream(first, [event('late', 0)]);

      // The subscription starts after `first`'s last event; the follower of `early` does not see revision 1 yet.
      const watchingFirst = new AbortController();
      await live.follow(first, watchingFirst.signal);
      const followed = await live.follow(early, new AbortController().signal);
      expect(followed.initial.map((e) => e.revision)).toEqual([0]);
      await client.query('COMMIT');

      // Any later event proves the subscription is past every open transaction: the follower re-reads.
      await store.appendToStream(other, [event('late', 0)]);
      const got: RecordedEvent[] = [];
      for await (const recorded of followed.live) {
        got.push(recorded);
        break;
      }
      expect(got.map((e) => [e.streamName, e.revision])).toEqual([[early, 1]]);
      watchingFirst.abort();
    } finally {
      await client.end();
      live.beforeApplicationShutdown();
    }
  });

  it('stops the shared subscription when the last follower leaves and ends followers at shutdown', async () => {
    const counted = counting(store);
    const live = new LiveReportEvents(counted.store, silent);
    const stream = reportStream('stop', 'one');
    await store.appendToStream(stream, [event('stop', 0)]);

    const leaving = new AbortController();
    const followed = await live.follow(stream, leaving.signal);
    leaving.abort();
    const ended: RecordedEvent[] = [];
    for await (const recorded of followed.live) ended.push(recorded);
    expect(ended).toEqual([]);
    await waitFor(() => counted.active() === 0);

    const again = await live.follow(stream, new AbortController().signal);
    await store.appendToStream(stream, [event('stop', 1)]);
    const iterator = again.live[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.revision).toBe(1);
    expect(counted.active()).toBe(1);
    live.beforeApplicationShutdown();
    expect((await iterator.next()).done).toBe(true);
    await waitFor(() => counted.active() === 0);
  });
});
