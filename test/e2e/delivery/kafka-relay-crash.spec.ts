import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { reportStream } from '../../../src/application/report/report-stream.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresDeliveryCheckpoints } from '../../../src/infrastructure/messaging/postgres-delivery-checkpoints.js';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import { createTestDatabase } from '../../support/database.js';
import { collectTopic, describeWithKafka, sharedKafka } from '../../support/kafka.js';
import { type NodeProcess, startNodeProcess } from '../../support/node-process.js';
import { finalEvent } from '../../support/relay-harness.js';
import { query } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

const MAIN = 'dist/src/main.js';
const REPORTS = 5;
const WAITING_CHECKPOINT = `SELECT pid FROM pg_stat_activity
  WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO delivery_checkpoints%'`;

/**
 * The compiled server is killed with SIGKILL after the broker acknowledged a page and before the relay
 * stored its checkpoint: held there by a lock on the checkpoint table, which the test takes. The events are
 * in the log before the server starts, so they make one page. After a
 * restart the page goes out again, with the same `ce_id`s: a duplicate a consumer drops, never a new id.
 */
describeWithKafka('Kafka relay: kill -9 between publish and checkpoint (e2e)', () => {
  let brokers: string;
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let conflux: NodeProcess | undefined;
  const topic = `reports-${randomBytes(4).toString('hex')}`;
  const tenantId = `k${randomBytes(4).toString('hex')}`;

  const start = () => startNodeProcess(MAIN, env, 'Conflux listening');

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    brokers = await sharedKafka();
    control = await createTestDatabase('conflux_relay_crash');
    dataDir = await mkdtemp(join(tmpdir(), 'conflux-relay-crash-'));
    env = {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      PORT: String(await freePort()),
      SIM_PORT: String(await freePort()),
      DATA_DIR: dataDir,
      DATABASE_URL: control.url,
      OPERATOR_TOKEN: randomBytes(24).toString('base64url'),
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
    };
  }, 200_000);

  afterAll(async () => {
    await conflux?.kill();
    await control?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('publishes the page again after the restart, with the same ce_id for every event', async () => {
    const store = await PostgresEventStore.create(control.url);
    const pool = new pg.Pool({ connectionString: control.url, max: 1 });
    await new PostgresDeliveryCheckpoints(pool).migrate();
    await pool.end();
    const ids: string[] = [];
    for (let i = 0; i < REPORTS; i++) {
      const event = finalEvent('ReportReady', `r${i}`, tenantId);
      await store.appendToStream(reportStream(tenantId, `r${i}`), [event]);
      ids.push(event.id!);
    }
    await store.close();
    // Reads go on (the relay loads its checkpoint); the write of its checkpoint waits for this lock.
    const lock = new pg.Client({ connectionString: control.url });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE delivery_checkpoints IN SHARE MODE');
    conflux = await start();
    const consumer = await collectTopic(brokers, topic);
    try {
      await waitUntil('the broker has the page', () => consumer.messages.length >= REPORTS);
      await waitUntil(
        'the relay waits to store its checkpoint',
        async () => (await lock.query(WAITING_CHECKPOINT)).rowCount === 1,
      );

      await conflux.kill();
      conflux = undefined;
      // The dead process's statement must not run once the lock goes: end its backend, as a crash before
      // the statement reached the database would.
      await lock.query(`SELECT pg_terminate_backend(pid) FROM (${WAITING_CHECKPOINT}) waiting`);
      await lock.query('ROLLBACK');
      expect(await query(control.url, 'SELECT * FROM delivery_checkpoints')).toEqual([]);

      conflux = await start();
      await waitUntil('the page is on the broker again', () => consumer.messages.length >= 2 * REPORTS);
      await waitUntil(
        'the relay stored its checkpoint',
        async () => (await query(control.url, 'SELECT 1 FROM delivery_checkpoints')).length === 1,
      );
      const counts = new Map<string, number>();
      for (const m of consumer.messages) counts.set(m.headers.ce_id, (counts.get(m.headers.ce_id) ?? 0) + 1);
      expect([...counts.keys()].sort()).toEqual([...ids].sort());
      expect([...counts.values()]).toEqual(ids.map(() => 2));
    } finally {
      await consumer.stop();
      await lock.end();
    }
  }, 400_000);
});
