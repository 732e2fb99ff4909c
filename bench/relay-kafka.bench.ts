import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { ReportNotificationRelay } from '../src/application/delivery/report-notification-relay.js';
import type { NewEvent } from '../src/application/ports/event-store.port.js';
import { reportStream } from '../src/application/report/report-stream.js';
import { PostgresEventStore } from '../src/infrastructure/event-store/postgres-event-store.js';
import { createLogger } from '../src/infrastructure/logging/pino-logger.js';
import { KafkaMessageBus } from '../src/infrastructure/messaging/kafka-message-bus.js';
import { PostgresDeliveryCheckpoints } from '../src/infrastructure/messaging/postgres-delivery-checkpoints.js';
import { kafkaUnavailableReason, startKafkaBroker } from '../test/support/kafka-broker.js';
import type { Benchmark, BenchContext, Figure } from './support.js';

/**
 * `relay.kafka.rate`: events per second from the log to the broker's acknowledgement, over a backlog of
 * `RELAY_BENCH_EVENTS` ReportReady events appended while the relay is stopped (the relay then publishes
 * pages of up to 1000). `relay.kafka.lag`: with the relay running, 100 reports become ready at once (100
 * concurrent appends); the time from the last append's commit until the broker holds all 100 messages.
 * Counted at the broker (sum of the topic's high watermarks, polled every 10 ms). A real Kafka 4.4 broker
 * of its own (test/support/kafka-broker.ts); skipped, with the reason, without Java or Maven.
 */
const EVENTS = Number(process.env.RELAY_BENCH_EVENTS ?? 5000);
const CONCURRENT = 100;

const readyEvent = (tenantId: string, reportId: string): NewEvent => ({
  type: 'ReportReady',
  data: {
    reportId,
    files: [
      {
        name: 'transactions.csv',
        contentType: 'text/csv',
        key: `tenants/${tenantId}/reports/${reportId}/transactions.csv`,
        rows: 2000,
        bytes: 180_000,
        sha256: 'ab'.repeat(32),
      },
    ],
    completedAt: new Date().toISOString(),
  },
  metadata: { tenantId, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
});

const run = async (ctx: BenchContext): Promise<Figure[]> => {
  const reason = kafkaUnavailableReason();
  if (reason) {
    console.error(`relay.kafka skipped: ${reason}`);
    return [];
  }
  const dir = await mkdtemp(join(tmpdir(), 'conflux-bench-kafka-'));
  const broker = await startKafkaBroker(dir);
  const database = `bench_relay_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ctx.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(ctx.databaseUrl);
  url.pathname = `/${database}`;
  const store = await PostgresEventStore.create(url.toString());
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  pool.on('error', () => undefined); // the database is dropped with FORCE at the end
  const kafka = new Kafka({ brokers: [broker.brokers], logLevel: logLevel.NOTHING }).admin();
  const topic = 'bench.reports';
  const logger = createLogger('error'); // stdout carries the figures
  const bus = new KafkaMessageBus(
    { brokers: [broker.brokers], clientId: 'conflux-bench', topic, topicPartitions: 3 },
    logger,
  );
  const checkpoints = new PostgresDeliveryCheckpoints(pool);
  const relay = new ReportNotificationRelay(store, bus, checkpoints, logger);
  const tenantId = 'bench';
  try {
    await checkpoints.migrate();
    await kafka.connect();
    const onBroker = async () =>
      (await kafka.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
    const until = async (count: number) => {
      while ((await onBroker()) < count) await new Promise((r) => setTimeout(r, 10));
    };

    for (let i = 0; i < EVENTS; i += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, EVENTS - i) }, (_, j) =>
          store.appendToStream(reportStream(tenantId, `b${i + j}`), [readyEvent(tenantId, `b${i + j}`)]),
        ),
      );
    await bus.connect(); // the topic exists, the producer is up: connecting is not relaying
    const began = performance.now();
    relay.onApplicationBootstrap();
    await until(EVENTS);
    const seconds = (performance.now() - began) / 1000;

    const lagRuns: number[] = [];
    for (let run = 0; run < 3; run++) {
      const before = await onBroker();
      await Promise.all(
        Array.from({ length: CONCURRENT }, (_, j) =>
          store.appendToStream(reportStream(tenantId, `l${run}-${j}`), [
            readyEvent(tenantId, `l${run}-${j}`),
          ]),
        ),
      );
      const committed = performance.now();
      await until(before + CONCURRENT);
      lagRuns.push(performance.now() - committed);
    }
    lagRuns.sort((a, b) => a - b);
    return [
      {
        name: 'relay.kafka.rate',
        value: Math.round(EVENTS / seconds),
        unit: 'events/s',
        events: EVENTS,
        // One drain of the backlog: the relay's checkpoint is past it afterwards.
        runs: [Math.round(EVENTS / seconds)],
      },
      {
        name: 'relay.kafka.lag',
        value: Math.round(lagRuns[1]),
        unit: 'ms',
        concurrentReports: CONCURRENT,
        runsMs: lagRuns.map(Math.round),
        note: 'median of 3: last of 100 concurrent appends committed → all 100 acknowledged by the broker',
      },
    ];
  } finally {
    await relay.beforeApplicationShutdown();
    await kafka.disconnect();
    await store.close();
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    await broker.kill();
    await rm(dir, { recursive: true, force: true });
  }
};

export const benchmarks: Benchmark[] = [
  { name: 'relay.kafka', figures: ['relay.kafka.rate', 'relay.kafka.lag'], run },
];
