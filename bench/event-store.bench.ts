import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import type { NewEvent } from '../src/application/ports/event-store.port.js';
import { PostgresEventStore } from '../src/infrastructure/event-store/postgres-event-store.js';
import { median, ratio, spread, withPeakRss, type Benchmark, type Figure } from './support.js';

const WRITERS = 16;
const APPENDS = 20_000;
const RUNS = 3;
const READ_EVENTS = 200_000;
const PAGE_SIZE = 1000;

const event = (i: number): NewEvent => ({
  type: 'BenchEventRecorded',
  data: { i, amount: 1234.56, note: 'a payload of a realistic, small size' },
  metadata: { tenantId: 'bench', correlationId: 'bench-correlation' },
});

/** A fresh database in the bench cluster, dropped afterwards whatever happens. */
const withFreshDatabase = async <T>(clusterUrl: string, work: (url: string) => Promise<T>): Promise<T> => {
  const name = `bench_event_store_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: clusterUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  try {
    const url = new URL(clusterUrl);
    url.pathname = `/${name}`;
    return await work(url.toString());
  } finally {
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
};

const countEvents = async (url: string): Promise<number> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0].n;
  } finally {
    await client.end();
  }
};

/** `count` single-event appends by WRITERS concurrent writers, each on its own stream; appends/s. */
const appendRate = async (store: PostgresEventStore, run: string, count: number): Promise<number> => {
  const perWriter = Math.ceil(count / WRITERS);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const streamName = `bench-bench.${run}-${w}`;
      for (let i = 0; i < perWriter; i++)
        await store.appendToStream(streamName, [event(i)], {
          expectedRevision: i === 0 ? 'no_stream' : i - 1,
        });
    }),
  );
  return (perWriter * WRITERS) / ((performance.now() - started) / 1000);
};

/**
 * The peer of an append: a raw SQL INSERT of the same row shape (same columns, keys and indexes as
 * `events`), one event per transaction, by the same WRITERS concurrent writers — what an append costs with
 * no stream revision check, no append lock and no wake-up. appends/s.
 */
const RAW_EVENTS = `CREATE TABLE IF NOT EXISTS raw_events (
  position bigserial PRIMARY KEY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream_name text NOT NULL, revision bigint NOT NULL, id uuid NOT NULL UNIQUE, type text NOT NULL,
  data jsonb NOT NULL, metadata jsonb NOT NULL, tenant_id text, category text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_name, revision));
CREATE INDEX IF NOT EXISTS raw_events_transaction_id_position_idx ON raw_events (transaction_id, position)`;

const rawAppendRate = async (pool: pg.Pool, run: string, count: number): Promise<number> => {
  const perWriter = Math.ceil(count / WRITERS);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        const e = event(i);
        await pool.query(
          `INSERT INTO raw_events (stream_name, revision, id, type, data, metadata, tenant_id, category)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [`bench-bench.${run}-${w}`, i, randomUUID(), e.type, e.data, e.metadata, 'bench', 'bench'],
        );
      }
    }),
  );
  return (perWriter * WRITERS) / ((performance.now() - started) / 1000);
};

/** Reads the whole log from the start in pages; events/s and how many. */
const readRate = async (store: PostgresEventStore): Promise<{ rate: number; events: number }> => {
  const started = performance.now();
  let events = 0;
  let page = await store.readAll({ maxCount: PAGE_SIZE });
  while (page.length > 0) {
    events += page.length;
    page = await store.readAll({ after: page.at(-1)!.checkpoint, maxCount: PAGE_SIZE });
  }
  return { rate: events / ((performance.now() - started) / 1000), events };
};

/** The same catch-up through subscribeToAll, as a projection replay would do it. */
const subscribeRate = async (store: PostgresEventStore, total: number): Promise<number> => {
  const controller = new AbortController();
  const started = performance.now();
  let events = 0;
  for await (const _ of store.subscribeToAll({ signal: controller.signal, batchSize: PAGE_SIZE })) {
    if (++events === total) controller.abort();
  }
  return events / ((performance.now() - started) / 1000);
};

export const benchmarks: Benchmark[] = [
  {
    name: 'eventstore',
    figures: [
      'eventstore.append.rate',
      'eventstore.append.raw_sql.rate',
      'eventstore.read.rate',
      'eventstore.subscribe.catchup.rate',
    ],
    run: async (ctx): Promise<Figure[]> =>
      withFreshDatabase(ctx.databaseUrl, async (url) => {
        const store = await PostgresEventStore.create(url, { maxConnections: WRITERS + 4 });
        try {
          const raw = new pg.Pool({ connectionString: url, max: WRITERS + 4 });
          await raw.query(RAW_EVENTS);
          await appendRate(store, 'warmup', WRITERS * 50);
          await rawAppendRate(raw, 'warmup', WRITERS * 50);
          // Alternating runs (Conflux, raw, Conflux, …): a change of load hits both.
          const rawRates: number[] = [];
          const appends = await withPeakRss(async () => {
            const rates: number[] = [];
            for (let r = 0; r < RUNS; r++) {
              rates.push(await appendRate(store, `run${r}`, APPENDS));
              rawRates.push(await rawAppendRate(raw, `run${r}`, APPENDS));
            }
            return rates;
          });
          await raw.end();

          // Top the log up with large appends, so that reads measure a log of a realistic size.
          let logged = await countEvents(url);
          for (let s = 0; logged < READ_EVENTS; s++) {
            const batch = Math.min(500, READ_EVENTS - logged);
            await store.appendToStream(
              `bench-bench.seed-${s}`,
              Array.from({ length: batch }, (_, i) => event(i)),
            );
            logged += batch;
          }

          const reads = await withPeakRss(async () => {
            const results: { rate: number; events: number }[] = [];
            for (let r = 0; r < RUNS; r++) results.push(await readRate(store));
            return results;
          });
          const total = reads.result[0].events;
          const subscribes = await withPeakRss(async () => {
            const rates: number[] = [];
            for (let r = 0; r < RUNS; r++) rates.push(await subscribeRate(store, total));
            return rates;
          });

          const round = (n: number) => Math.round(n);
          return [
            {
              name: 'eventstore.append.rate',
              value: round(median(appends.result)),
              unit: 'appends/s',
              events: APPENDS,
              eventsPerAppend: 1,
              writers: WRITERS,
              runs: appends.result.map(round),
              spread: spread(appends.result.map(round)),
              ratioToRawSql: ratio(median(appends.result.map((rate, i) => rate / rawRates[i]))),
              peakRssMb: appends.peakRssMb,
            },
            {
              name: 'eventstore.append.raw_sql.rate',
              value: round(median(rawRates)),
              unit: 'appends/s',
              peer: 'INSERT of the same row shape, 1 per transaction, no revision check, lock or wake-up',
              events: APPENDS,
              writers: WRITERS,
              runs: rawRates.map(round),
              spread: spread(rawRates.map(round)),
            },
            {
              name: 'eventstore.read.rate',
              value: round(median(reads.result.map((r) => r.rate))),
              unit: 'events/s',
              events: total,
              pageSize: PAGE_SIZE,
              runs: reads.result.map((r) => round(r.rate)),
              peakRssMb: reads.peakRssMb,
            },
            {
              name: 'eventstore.subscribe.catchup.rate',
              value: round(median(subscribes.result)),
              unit: 'events/s',
              events: total,
              pageSize: PAGE_SIZE,
              runs: subscribes.result.map(round),
              peakRssMb: subscribes.peakRssMb,
            },
          ];
        } finally {
          await store.close();
        }
      }),
  },
];
