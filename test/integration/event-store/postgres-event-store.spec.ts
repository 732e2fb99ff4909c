import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  WrongExpectedVersionError,
  type NewEvent,
  type RecordedEvent,
} from '../../../src/application/ports/event-store.port.js';
import { AppendLockTooLateError } from '../../../src/infrastructure/event-store/append.js';
import {
  PostgresEventStore,
  type PostgresEventStoreCreateOptions,
} from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { clusterUrl, createTestDatabase } from '../../support/database.js';
import { waitUntil } from '../../support/wait-until.js';
import { eventStoreContract, type EventStoreHarness } from '../../support/event-store-contract.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase('event_store');
});
afterAll(async () => {
  await db.drop();
});

/** A pg client holding a transaction open, as a slow appender in another process would. */
const openTransaction = async (url: string): Promise<pg.Client> => {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  return client;
};

const setup = async (options: PostgresEventStoreCreateOptions = {}): Promise<EventStoreHarness> => {
  const store = await PostgresEventStore.create(db.url, { maxConnections: 20, ...options });
  const open = new Set<pg.Client>();
  return {
    store,
    beginOpenAppend: async (streamName, events) => {
      const client = await openTransaction(db.url);
      open.add(client);
      await store.appendWithin(client, streamName, events);
      return {
        commit: async () => {
          await client.query('COMMIT');
          open.delete(client);
          await client.end();
        },
      };
    },
    beginForeignTransaction: async (where) => {
      const client = await openTransaction(where === 'other-database' ? clusterUrl() : db.url);
      open.add(client);
      // A write gives the transaction its id, as a migration's DDL or a unit of work's UPDATE would.
      await client.query(`CREATE TEMP TABLE stranger_${uid()} (x int)`);
      return {
        end: async () => {
          await client.query('ROLLBACK');
          open.delete(client);
          await client.end();
        },
      };
    },
    teardown: async () => {
      await Promise.all([...open].map((client) => client.end()));
      await store.close();
    },
  };
};

eventStoreContract('PostgresEventStore', () => setup());

const uid = (): string => randomBytes(6).toString('hex');
const event = (type: string, tenantId: string, data: unknown = {}): NewEvent => ({
  type,
  data,
  metadata: { tenantId },
});

/** Runs SQL on the cluster's maintenance database, outside the database under test. */
const onCluster = async <T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> => {
  const client = new pg.Client({ connectionString: clusterUrl() });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
};

const connectionsTo = async (database: string, applicationName?: string) =>
  onCluster<{ pid: number; application_name: string }>(
    `SELECT pid, application_name FROM pg_stat_activity
     WHERE datname = $1 AND ($2::text IS NULL OR application_name = $2) AND pid <> pg_backend_pid()`,
    [database, applicationName ?? null],
  );

const until = (what: string, condition: () => Promise<boolean>, timeoutMs?: number): Promise<void> =>
  waitUntil(what, condition, timeoutMs);

/**
 * The notification tests poll so rarely that only a wake-up can deliver an event within WAKE_BOUND_MS, a
 * bound generous enough for a loaded machine.
 */
const RARE_POLL_MS = 120_000;
const WAKE_BOUND_MS = 30_000;
const NOTIFICATION_TEST_TIMEOUT_MS = 4 * WAKE_BOUND_MS;

/**
 * Until the store's subscriber is idle: its LISTEN connection (unless `listening` is false) has run LISTEN, and one pool connection has
 * finished reading the log while none is busy. Appending earlier would measure the subscriber's start-up
 * (a connection, LISTEN, a first read), which a loaded machine makes slow, not the wake-up.
 */
const untilSubscriberIdle = (database: string, listening = true): Promise<void> =>
  until('the subscriber is idle and listening', async () => {
    const [row] = await onCluster<{ listening: number; read: number; busy: number }>(
      `SELECT count(*) FILTER (WHERE application_name = 'conflux-event-store-listener' AND state = 'idle'
                                 AND query ILIKE 'LISTEN%')::int AS listening,
              count(*) FILTER (WHERE application_name <> 'conflux-event-store-listener' AND state = 'idle'
                                 AND query LIKE 'WITH append_locks AS MATERIALIZED%')::int AS read,
              count(*) FILTER (WHERE state = 'active')::int AS busy
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    return row.listening === (listening ? 1 : 0) && row.read >= 1 && row.busy === 0;
  });

/** Until `count` sessions of `database` wait for another transaction to end (a unique index's check does). */
const untilWaitingOnTransactions = (database: string, count: number): Promise<void> =>
  until(`${count} sessions wait for another transaction`, async () => {
    const [row] = await onCluster<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
       WHERE datname = $1 AND wait_event_type = 'Lock' AND wait_event = 'transactionid'`,
      [database],
    );
    return row.waiting >= count;
  });

/** The time from an append to its delivery to an already idle subscriber. */
const deliveryDelay = async (
  store: PostgresEventStore,
  append: () => Promise<unknown>,
  tenantId: string,
  idle: () => Promise<void> = () => untilSubscriberIdle(db.name),
) => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 2 * WAKE_BOUND_MS);
  let deliveredAt = 0;
  const subscription = (async () => {
    for await (const _ of store.subscribeToAll({ filter: { tenantId }, signal: controller.signal })) {
      deliveredAt = Date.now();
      controller.abort();
    }
  })();
  await idle();
  const appendedAt = Date.now();
  await append();
  await subscription;
  clearTimeout(timer);
  if (!deliveredAt) throw new Error('the subscriber never received the event');
  return deliveredAt - appendedAt;
};

describe('PostgresEventStore on PostgreSQL', () => {
  it('migrates idempotently, also when several migrations run at once on an empty database', async () => {
    const fresh = await createTestDatabase('event_store_migrate');
    const store = await PostgresEventStore.create(fresh.url, { migrate: false });
    try {
      await Promise.all([store.migrate(), store.migrate(), store.migrate(), store.migrate()]);
      await store.migrate();
      await store.appendToStream('cat-t.a', [event('A', 't')]);
      expect((await store.readStream('cat-t.a')).map((e) => e.type)).toEqual(['A']);
    } finally {
      await store.close();
      await fresh.drop();
    }
  });

  it('migrates a database of the streams-table era: the events stay, the old table is left unused', async () => {
    const old = await createTestDatabase('event_store_streams_era');
    const direct = new pg.Client({ connectionString: old.url });
    await direct.connect();
    const store = await PostgresEventStore.create(old.url, { migrate: false });
    try {
      // What that schema held: a stream's events and its revision row, here one behind, as no append left it.
      await direct.query('CREATE TABLE streams (stream_name text PRIMARY KEY, revision bigint NOT NULL)');
      await store.migrate();
      await store.appendToStream('cat-t.a', [event('A', 't'), event('B', 't')]);
      await direct.query(`INSERT INTO streams VALUES ('cat-t.a', 0)`);
      await store.migrate();

      const next = await store.appendToStream('cat-t.a', [event('C', 't')], { expectedRevision: 1 });

      expect(next.nextExpectedRevision).toBe(2);
      expect((await store.readStream('cat-t.a')).map((e) => e.type)).toEqual(['A', 'B', 'C']);
      expect((await direct.query('SELECT revision::int FROM streams')).rows).toEqual([{ revision: 0 }]);
    } finally {
      await direct.end();
      await store.close();
      await old.drop();
    }
  });

  describe('with a store', () => {
    let store: PostgresEventStore;
    beforeEach(async () => {
      store = await PostgresEventStore.create(db.url);
    });
    afterEach(async () => {
      await store.close();
    });

    it('holds back every event committed after an append whose transaction is still open', async () => {
      const tenant = `t${uid()}`;
      const filter = { tenantId: tenant };
      const open = await openTransaction(db.url);
      try {
        const a = await store.appendWithin(open, `c-${tenant}.a`, [event('A', tenant)]);
        const b = await store.appendToStream(`c-${tenant}.b`, [event('B', tenant)]);

        expect(await store.readAll({ filter })).toEqual([]);
        // A's checkpoint is already known to its writer, yet nothing after it may be served while A is open.
        expect(await store.readAll({ after: a.checkpoint, filter })).toEqual([]);
        await open.query('COMMIT');
        await until('both are visible', async () => (await store.readAll({ filter })).length === 2);
        expect((await store.readAll({ filter })).map((e) => e.type)).toEqual(['A', 'B']);
        expect((await store.readAll({ after: a.checkpoint, filter })).map((e) => e.checkpoint)).toEqual([
          b.checkpoint,
        ]);
      } finally {
        await open.end();
      }
    });

    it('does not go back when a filtered subscription starts after a checkpoint that is not yet visible', async () => {
      const tenant = `t${uid()}`;
      const filter = { tenantId: tenant, eventTypes: ['Wanted'] };
      const open = await openTransaction(db.url);
      const received: RecordedEvent[] = [];
      const controller = new AbortController();
      let subscription: Promise<void> | undefined;
      try {
        await store.appendToStream(`c-${tenant}.early`, [event('Wanted', tenant, { n: 0 })]);
        await store.appendWithin(open, `c-${tenant}.a`, [event('Wanted', tenant, { n: 1 })]);
        const late = await store.appendToStream(`c-${tenant}.b`, [event('Wanted', tenant, { n: 2 })]);
        subscription = (async () => {
          for await (const e of store.subscribeToAll({
            after: late.checkpoint,
            filter,
            signal: controller.signal,
          }))
            received.push(e);
        })();
        await sleep(700);
        await open.query('COMMIT');
        await sleep(700);
        await store.appendToStream(`c-${tenant}.c`, [event('Wanted', tenant, { n: 3 })]);
        await until('the new event arrives', async () => received.length > 0);
        await sleep(300);
      } finally {
        controller.abort();
        await subscription;
        await open.end();
      }

      expect(received.map((e) => e.data)).toEqual([{ n: 3 }]);
    });

    it('settles a race its snapshot cannot see: any and stream_exists take the next revision, no_stream and an exact revision lose', async () => {
      const tenant = `t${uid()}`;
      const [fresh, open, exact, exists] = ['fresh', 'open', 'exact', 'exists'].map(
        (s) => `c-${tenant}.${s}`,
      );
      await store.appendToStream(exact, [event('Base', tenant)]);
      await store.appendToStream(exists, [event('Base', tenant)]);
      const winner = await openTransaction(db.url);
      try {
        for (const stream of [fresh, open, exact, exists])
          await store.appendWithin(winner, stream, [event('Won', tenant)]);
        // Each reads its stream without the winner's rows, then waits on the unique index for its commit.
        const racing = [
          store.appendToStream(fresh, [event('Lost', tenant)], { expectedRevision: 'no_stream' }),
          store.appendToStream(open, [event('Later', tenant)], { expectedRevision: 'any' }),
          store.appendToStream(exact, [event('Lost', tenant)], { expectedRevision: 0 }),
          store.appendToStream(exists, [event('Later', tenant)], { expectedRevision: 'stream_exists' }),
        ].map((append) => append.catch((error: unknown) => error));
        await untilWaitingOnTransactions(db.name, 4);
        await winner.query('COMMIT');
        const [noStream, any, exactly, streamExists] = await Promise.all(racing);

        expect(noStream).toBeInstanceOf(WrongExpectedVersionError);
        expect(noStream).toMatchObject({ streamName: fresh, expected: 'no_stream', actual: 0 });
        expect(any).toMatchObject({ nextExpectedRevision: 1 });
        expect(exactly).toBeInstanceOf(WrongExpectedVersionError);
        expect(exactly).toMatchObject({ streamName: exact, expected: 0, actual: 1 });
        expect(streamExists).toMatchObject({ nextExpectedRevision: 2 });
        const types = async (stream: string) =>
          (await store.readStream(stream)).map((e) => `${e.revision}${e.type}`);
        expect(await types(fresh)).toEqual(['0Won']);
        expect(await types(open)).toEqual(['0Won', '1Later']);
        expect(await types(exact)).toEqual(['0Base', '1Won']);
        expect(await types(exists)).toEqual(['0Base', '1Won', '2Later']);
      } finally {
        await winner.end();
      }
    });

    it('appendWithin that loses a race leaves its transaction usable, with nothing of the lost append in it', async () => {
      const tenant = `t${uid()}`;
      const streamName = `c-${tenant}.a`;
      const winner = await openTransaction(db.url);
      const loser = await openTransaction(db.url);
      try {
        await store.appendWithin(winner, streamName, [event('Won', tenant)], {
          expectedRevision: 'no_stream',
        });
        const lost = store
          .appendWithin(loser, streamName, [event('Lost', tenant)], { expectedRevision: 'no_stream' })
          .catch((error: unknown) => error);
        await untilWaitingOnTransactions(db.name, 1);
        await winner.query('COMMIT');

        expect(await lost).toMatchObject({ streamName, expected: 'no_stream', actual: 0 });
        const next = await store.appendWithin(loser, streamName, [event('Next', tenant)], {
          expectedRevision: 0,
        });
        await loser.query('COMMIT');

        expect(next.nextExpectedRevision).toBe(1);
        expect((await store.readStream(streamName)).map((e) => e.type)).toEqual(['Won', 'Next']);
      } finally {
        await winner.end();
        await loser.end();
      }
    });

    it('appends a batch too large for inline parameters in one piece, data intact', async () => {
      const tenant = `t${uid()}`;
      const streamName = `c-${tenant}.big`;
      const batch = Array.from({ length: 250 }, (_, i) =>
        event('Big', tenant, i % 3 === 0 ? null : i % 3 === 1 ? `text "${i}" \\ ü` : { i, nested: [i] }),
      );

      const result = await store.appendToStream(streamName, batch, { expectedRevision: 'no_stream' });
      await expect(
        store.appendToStream(streamName, batch, { expectedRevision: 'no_stream' }),
      ).rejects.toThrow(WrongExpectedVersionError);
      const read = await store.readStream(streamName);

      expect(result.nextExpectedRevision).toBe(249);
      expect(read.map((e) => e.revision)).toEqual(batch.map((_, i) => i));
      expect(read.map((e) => e.data)).toEqual(batch.map((e) => e.data));
      expect(read.every((e) => e.metadata.tenantId === tenant)).toBe(true);
      expect(new Set(read.map((e) => e.checkpoint)).size).toBe(250);
    });

    it('a checkpoint read from a stream is no place to resume: it can be ahead of a transaction still open', async () => {
      const tenant = `t${uid()}`;
      const filter = { tenantId: tenant };
      const open = await openTransaction(db.url);
      try {
        await store.appendWithin(open, `c-${tenant}.a`, [event('A', tenant)]);
        await store.appendToStream(`c-${tenant}.b`, [event('B', tenant)]);
        const [b] = await store.readStream(`c-${tenant}.b`);
        await open.query('COMMIT');
        await until('both are visible', async () => (await store.readAll({ filter })).length === 2);

        // Why the port promises resumption only from readAll or subscription checkpoints.
        expect((await store.readAll({ after: b.checkpoint, filter })).map((e) => e.type)).toEqual([]);
        expect((await store.readAll({ filter })).map((e) => e.type)).toEqual(['A', 'B']);
      } finally {
        await open.end();
      }
    });

    it('refuses appendWithin in a transaction that wrote before taking the append lock, accepts it after lockForAppend', async () => {
      const tenant = `t${uid()}`;
      const late = await openTransaction(db.url);
      const early = await openTransaction(db.url);
      try {
        await late.query(`CREATE TEMP TABLE late_${uid()} (x int)`);
        await expect(store.appendWithin(late, `c-${tenant}.a`, [event('A', tenant)])).rejects.toThrow(
          AppendLockTooLateError,
        );

        await store.lockForAppend(early);
        await early.query(`CREATE TEMP TABLE early_${uid()} (x int)`);
        await store.appendWithin(early, `c-${tenant}.b`, [event('B', tenant)]);
        const after = await store.appendToStream(`c-${tenant}.c`, [event('C', tenant)]);
        // The early transaction holds the lock, so it holds readers back like any open append.
        expect(await store.readAll({ filter: { tenantId: tenant } })).toEqual([]);
        await early.query('COMMIT');
        await until(
          'both are visible',
          async () => (await store.readAll({ filter: { tenantId: tenant } })).length === 2,
        );
        expect((await store.readAll({ filter: { tenantId: tenant } })).at(-1)?.checkpoint).toBe(
          after.checkpoint,
        );
      } finally {
        await late.end();
        await early.end();
      }
    });

    it('tells for how long open appends hold the readers back (readiness detail), and nothing for a stranger', async () => {
      const tenant = `t${uid()}`;
      const stranger = await openTransaction(db.url);
      const appender = await openTransaction(db.url);
      try {
        await stranger.query(`CREATE TEMP TABLE stranger_${uid()} (x int)`);
        expect(await store.horizonHold()).toEqual({ appenders: 0, heldSeconds: 0 });

        await store.appendWithin(appender, `c-${tenant}.a`, [event('A', tenant)]);
        await store.appendToStream(`c-${tenant}.b`, [event('B', tenant)]);
        // B is committed but invisible behind A: lag read from visible events says nothing; the hold does.
        await until('the hold has lasted a second', async () => (await store.horizonHold()).heldSeconds >= 1);
        expect(await store.readAll({ filter: { tenantId: tenant } })).toEqual([]);
        expect((await store.horizonHold()).appenders).toBe(1);

        await appender.query('COMMIT');
        expect(await store.horizonHold()).toEqual({ appenders: 0, heldSeconds: 0 });
      } finally {
        await stranger.end();
        await appender.end();
      }
    });

    it('16 writers in transactions of random length beside a stranger: a subscriber and a pager see every event once', async () => {
      const tenant = `t${uid()}`;
      const filter = { tenantId: tenant };
      const perWriter = 10;
      const total = 16 * perWriter;
      const stranger = await openTransaction(clusterUrl());
      await stranger.query(`CREATE TEMP TABLE stranger_${uid()} (x int)`);
      const controller = new AbortController();
      const subscribed: RecordedEvent[] = [];
      const subscription = (async () => {
        for await (const e of store.subscribeToAll({ filter, signal: controller.signal, batchSize: 7 }))
          subscribed.push(e);
      })();
      const paged: RecordedEvent[] = [];
      let pagingDone = false;
      const pager = (async () => {
        let after: RecordedEvent['checkpoint'] | undefined;
        while (!pagingDone) {
          const page = await store.readAll({ after, filter, maxCount: 5 });
          paged.push(...page);
          after = page.at(-1)?.checkpoint ?? after;
          if (page.length === 0) await sleep(5);
        }
      })();
      try {
        await Promise.all(
          Array.from({ length: 16 }, async (_, w) => {
            const client = await openTransaction(db.url);
            try {
              for (let i = 0; i < perWriter; i++) {
                if (i > 0) await client.query('BEGIN');
                await store.appendWithin(client, `c-${tenant}.w${w}`, [event('Wrote', tenant, { w, i })]);
                await sleep(Math.floor(Math.random() * 40));
                await client.query('COMMIT');
              }
            } finally {
              await client.end();
            }
          }),
        );
        await until('the subscriber has every event', async () => subscribed.length >= total, 60_000);
        await until('the pager has every event', async () => paged.length >= total, 60_000);
      } finally {
        pagingDone = true;
        controller.abort();
        await Promise.all([subscription, pager]);
        await stranger.end();
      }

      for (const events of [subscribed, paged]) {
        expect(events).toHaveLength(total);
        expect(new Set(events.map((e) => e.id)).size).toBe(total);
        for (let w = 0; w < 16; w++)
          expect(events.filter((e) => e.streamName === `c-${tenant}.w${w}`).map((e) => e.revision)).toEqual(
            Array.from({ length: perWriter }, (_, i) => i),
          );
      }
    }, 120_000);

    it('rejects a checkpoint it did not issue', async () => {
      await expect(store.readAll({ after: 'not-a-checkpoint' as never })).rejects.toThrow(TypeError);
    });
  });

  describe('notifications', () => {
    it(
      'wake an idle subscriber long before its poll interval',
      async () => {
        const store = await PostgresEventStore.create(db.url, { pollIntervalMs: RARE_POLL_MS });
        try {
          const tenant = `t${uid()}`;
          const delay = await deliveryDelay(
            store,
            () => store.appendToStream(`c-${tenant}.a`, [event('A', tenant)]),
            tenant,
          );
          expect(delay).toBeLessThan(WAKE_BOUND_MS);
        } finally {
          await store.close();
        }
      },
      NOTIFICATION_TEST_TIMEOUT_MS,
    );

    it(
      'an appendWithin wakes subscribers when its transaction commits',
      async () => {
        const store = await PostgresEventStore.create(db.url, { pollIntervalMs: RARE_POLL_MS });
        const open = await openTransaction(db.url);
        try {
          const tenant = `t${uid()}`;
          await store.appendWithin(open, `c-${tenant}.a`, [event('A', tenant)]);
          const delay = await deliveryDelay(store, () => open.query('COMMIT'), tenant);
          expect(delay).toBeLessThan(WAKE_BOUND_MS);
        } finally {
          await open.end();
          await store.close();
        }
      },
      NOTIFICATION_TEST_TIMEOUT_MS,
    );

    it(
      'keep a subscriber going after its LISTEN connection is killed',
      async () => {
        const store = await PostgresEventStore.create(db.url, {
          pollIntervalMs: RARE_POLL_MS,
          listenRetryMs: 50,
        });
        const tenant = `t${uid()}`;
        const controller = new AbortController();
        const received: RecordedEvent[] = [];
        const subscription = (async () => {
          for await (const e of store.subscribeToAll({
            filter: { tenantId: tenant },
            signal: controller.signal,
          }))
            received.push(e);
        })();
        try {
          let listeners: { pid: number }[] = [];
          await until('the listener connects', async () => {
            listeners = await connectionsTo(db.name, 'conflux-event-store-listener');
            return listeners.length === 1;
          });
          await onCluster('SELECT pg_terminate_backend($1)', [listeners[0].pid]);
          await until('a new listener connects', async () => {
            const now = await connectionsTo(db.name, 'conflux-event-store-listener');
            return now.length === 1 && now[0].pid !== listeners[0].pid;
          });
          await untilSubscriberIdle(db.name);
          const appendedAt = Date.now();
          await store.appendToStream(`c-${tenant}.a`, [event('A', tenant)]);
          await until('the event arrives', async () => received.length === 1);
          expect(Date.now() - appendedAt).toBeLessThan(WAKE_BOUND_MS);
        } finally {
          controller.abort();
          await subscription;
          await store.close();
        }
      },
      NOTIFICATION_TEST_TIMEOUT_MS,
    );

    it(
      'are optional: with notify off a subscriber still receives events by polling',
      async () => {
        const store = await PostgresEventStore.create(db.url, { notify: false, pollIntervalMs: 100 });
        try {
          const tenant = `t${uid()}`;
          const delay = await deliveryDelay(
            store,
            () => store.appendToStream(`c-${tenant}.a`, [event('A', tenant)]),
            tenant,
            () => untilSubscriberIdle(db.name, false),
          );
          expect(delay).toBeLessThan(WAKE_BOUND_MS);
          expect(await connectionsTo(db.name, 'conflux-event-store-listener')).toEqual([]);
        } finally {
          await store.close();
        }
      },
      NOTIFICATION_TEST_TIMEOUT_MS,
    );
  });

  describe('one live read of the log per store (the log tail)', () => {
    /** The store's log reads (every one starts with the horizon CTEs), counted on the pool it owns. */
    const countingStore = async (options: PostgresEventStoreCreateOptions = {}) => {
      const pool = new pg.Pool({ connectionString: db.url, max: 10 });
      pool.on('error', () => undefined);
      let reads = 0;
      let failReads: Error | undefined;
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      (pool as { query: unknown }).query = (...args: unknown[]) => {
        const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text;
        if (text?.startsWith('WITH append_locks AS MATERIALIZED')) {
          reads += 1;
          if (failReads) return Promise.reject(failReads);
        }
        return query(...args);
      };
      const store = new PostgresEventStore(pool, options);
      await store.migrate();
      return { store, reads: () => reads, failReads: (error: Error | undefined) => (failReads = error) };
    };

    const follow = (store: PostgresEventStore, signal: AbortSignal, tenantId?: string) => {
      const received: RecordedEvent[] = [];
      const done = (async () => {
        for await (const e of store.subscribeToAll({ ...(tenantId ? { filter: { tenantId } } : {}), signal }))
          received.push(e);
      })();
      return { received, done };
    };

    it(
      'wakes 21 subscriptions with one read per append; each gets exactly its own events, in order',
      async () => {
        const { store, reads } = await countingStore({ pollIntervalMs: RARE_POLL_MS });
        const controller = new AbortController();
        const run = uid();
        const tenants = Array.from({ length: 20 }, (_, i) => `t${run}${i}`);
        const start = await store.appendToStream(`c-${tenants[0]}.start`, [event('Start', tenants[0])]);
        const everything = follow(store, controller.signal);
        const perTenant = tenants.map((tenant) => follow(store, controller.signal, tenant));
        try {
          await until('every subscription caught up', async () => everything.received.length >= 1);
          await until('the store is idle', () => untilSubscriberIdle(db.name).then(() => true));
          const before = reads();
          const appended: string[] = [];
          for (const [i, tenant] of tenants.entries()) {
            await store.appendToStream(`c-${tenant}.a`, [event(`E${i}`, tenant)]);
            appended.push(`E${i}`);
            await until('the event reached the subscription of all events', async () =>
              everything.received.some((e) => e.type === `E${i}`),
            );
          }
          await until('every tenant’s subscription has its event', async () =>
            perTenant.every((s) => s.received.length >= 1),
          );
          // Before the tail, each append cost at least one read per subscription: 21 × 20 = 420.
          expect(reads() - before).toBeLessThanOrEqual(2 * tenants.length);
          const ours = everything.received.filter(
            (e) => tenants.includes(e.metadata.tenantId) && e.checkpoint !== start.checkpoint,
          );
          expect(ours.map((e) => e.type)).toEqual(appended);
          for (const [i, s] of perTenant.entries()) {
            const own = s.received.filter((e) => e.type !== 'Start');
            expect(own.map((e) => [e.type, e.metadata.tenantId])).toEqual([[`E${i}`, tenants[i]]]);
          }
        } finally {
          controller.abort();
          await Promise.all([everything.done, ...perTenant.map((s) => s.done)]);
          await store.close();
        }
      },
      NOTIFICATION_TEST_TIMEOUT_MS,
    );

    it('a failed read of the tail fails every subscription following it, with the error', async () => {
      const { store, failReads } = await countingStore({ pollIntervalMs: RARE_POLL_MS });
      const controller = new AbortController();
      const tenant = `t${uid()}`;
      const outcomes = Array.from({ length: 3 }, () => {
        const received: RecordedEvent[] = [];
        const done = (async () => {
          for await (const e of store.subscribeToAll({
            filter: { tenantId: tenant },
            signal: controller.signal,
          }))
            received.push(e);
        })().then(
          () => 'ended',
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        );
        return { received, done };
      });
      try {
        await store.appendToStream(`c-${tenant}.a`, [event('E0', tenant)]);
        await until('every subscription has the first event', async () =>
          outcomes.every((o) => o.received.length === 1),
        );
        failReads(new Error('the database is gone'));
        await store.appendToStream(`c-${tenant}.a`, [event('E1', tenant)]);
        expect(await Promise.all(outcomes.map((o) => o.done))).toEqual(Array(3).fill('the database is gone'));
      } finally {
        failReads(undefined);
        controller.abort();
        await store.close();
      }
    });

    it('a subscription the tail left behind reads on its own and misses nothing, twice nothing', async () => {
      const store = await PostgresEventStore.create(db.url, {
        batchSize: 5,
        tailRetainedEvents: 5,
        pollIntervalMs: 50,
      });
      const controller = new AbortController();
      const tenant = `t${uid()}`;
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const slow: string[] = [];
      const fast = follow(store, controller.signal, tenant);
      const slowDone = (async () => {
        for await (const page of store.subscribeToAllPages({
          filter: { tenantId: tenant },
          signal: controller.signal,
          batchSize: 5,
        })) {
          slow.push(...page.map((e) => e.type));
          if (slow.length === 1) await gate; // stuck on its first page while the log runs on
        }
      })();
      try {
        await store.appendToStream(`c-${tenant}.a`, [event('E0', tenant)]);
        await until('both have the first event', async () => fast.received.length === 1 && slow.length >= 1);
        const types = Array.from({ length: 60 }, (_, i) => `E${i}`);
        for (const type of types.slice(1)) await store.appendToStream(`c-${tenant}.a`, [event(type, tenant)]);
        await until('the fast subscription has all', async () => fast.received.length === types.length);
        release();
        await until('the slow subscription has all', async () => slow.length >= types.length);
        expect(fast.received.map((e) => e.type)).toEqual(types);
        expect(slow).toEqual(types);
      } finally {
        release();
        controller.abort();
        await Promise.all([fast.done, slowDone]);
        await store.close();
      }
    });
  });

  describe('connections', () => {
    it('sets idle_in_transaction_session_timeout on the connections of the pool it is given', async () => {
      const pool = new pg.Pool({ connectionString: db.url, max: 2 });
      const store = new PostgresEventStore(pool, { idleInTransactionSessionTimeoutMs: 1234 });
      try {
        const { rows } = await pool.query<{ idle_in_transaction_session_timeout: string }>(
          'SHOW idle_in_transaction_session_timeout',
        );
        expect(rows[0].idle_in_transaction_session_timeout).toBe('1234ms');
      } finally {
        await store.close();
      }
    });

    it('close ends its subscriptions and releases every connection, and later appends fail', async () => {
      const fresh = await createTestDatabase('event_store_close');
      const store = await PostgresEventStore.create(fresh.url);
      try {
        const tenant = `t${uid()}`;
        await store.appendToStream(`c-${tenant}.a`, [event('A', tenant)]);
        const received: RecordedEvent[] = [];
        const subscription = (async () => {
          for await (const e of store.subscribeToAll({ signal: new AbortController().signal }))
            received.push(e);
        })();
        await until('the subscriber caught up', async () => received.length === 1);
        expect((await connectionsTo(fresh.name)).length).toBeGreaterThanOrEqual(2);

        await store.close();
        await subscription;

        await until(
          'no connection is left',
          async () => (await connectionsTo(fresh.name)).length === 0,
          5_000,
        );
        await expect(store.appendToStream(`c-${tenant}.a`, [event('B', tenant)])).rejects.toThrow();
      } finally {
        await store.close();
        await fresh.drop();
      }
    });
  });
});
