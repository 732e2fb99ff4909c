import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Checkpoint, RecordedEvent } from '../../../src/application/ports/event-store.port.js';
import { EventLogFromAnotherCluster } from '../../../src/infrastructure/event-store/log-identity.js';
import {
  rebaseEventLog,
  REBASED_CHECKPOINT_TABLES,
} from '../../../src/infrastructure/event-store/log-rebase.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresParkedEvents } from '../../../src/infrastructure/event-store/postgres-parked-events.js';
import { PostgresProjectionRebuilds } from '../../../src/infrastructure/event-store/postgres-projection-rebuilds.js';
import { PostgresDeliveryCheckpoints } from '../../../src/infrastructure/messaging/postgres-delivery-checkpoints.js';
import {
  type EmbeddedCluster,
  startEmbeddedPostgres,
} from '../../../src/infrastructure/postgres/embedded-postgres.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { MikroOrmTenantDatabases } from '../../../src/infrastructure/tenancy/tenant-databases.js';
import { alignProjectionCheckpoints } from '../../../src/infrastructure/tenancy/tenant-log-alignment.js';
import { createTestDatabase, withDatabase } from '../../support/database.js';
import { pgClientTools, type PgClientTools } from '../../support/pg-tools.js';
import { waitUntil } from '../../support/wait-until.js';
import { query } from '../../support/test-app.js';

/**
 * Issue 11, item 4: a pg_dump of the control and tenant databases, restored with psql into a second cluster
 * (embedded PostgreSQL), before and after `restore rebase`. The machine's pg_dump dumps the test cluster;
 * the embedded cluster is started fresh, so its transaction ids lie far below the restored ones.
 */
const tools = await pgClientTools();
if (typeof tools === 'string') console.warn(`backup-restore.spec skipped: ${tools}`);
const describeWithTools = typeof tools === 'string' ? describe.skip : describe;

const identityOf = async (url: string): Promise<string> =>
  (await query<{ id: string }>(url, 'SELECT system_identifier::text AS id FROM pg_control_system()'))[0].id;

const nextXid = async (url: string): Promise<bigint> =>
  BigInt((await query<{ x: string }>(url, 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x'))[0].x);

/** Makes the cluster of `url` assign ids up to `target` (a fresh cluster must sit far below the dump). */
const advanceXidTo = async (url: string, target: bigint): Promise<void> => {
  const missing = target - (await nextXid(url));
  if (missing <= 0n) return;
  await query(
    url,
    `DO $$ BEGIN FOR i IN 1..${missing} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`,
  );
};

const event = (type: string) => ({ type, data: { type }, metadata: { tenantId: 'acme' } });

/** Collects what a subscription from `after` delivers, until aborted. */
const subscribe = (store: PostgresEventStore, after: Checkpoint) => {
  const seen: RecordedEvent[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const e of store.subscribeToAll({ after, signal: abort.signal })) seen.push(e);
  })();
  const stop = async () => {
    abort.abort();
    await done;
  };
  return { seen, stop };
};

const tenantDatabases = (url: string, control: pg.Pool) =>
  new MikroOrmTenantDatabases({
    resolveUrl: async () => url,
    idleMs: 60_000,
    prepare: (em, tenantId) => alignProjectionCheckpoints(em, control, tenantId),
  });

describeWithTools('backup and restore into another cluster (issue 11, item 4)', () => {
  const { dump, restore } = tools as PgClientTools;
  let dir: string;
  let target: EmbeddedCluster;
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let tenant: Awaited<ReturnType<typeof createTestDatabase>>;
  const restored = { control: '', tenant: '' };
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conflux-restore-'));
    if (process.getuid?.() === 0) await chmod(dir, 0o755);
    [target, control, tenant] = await Promise.all([
      startEmbeddedPostgres(join(dir, 'cluster'), { persistent: false, maxConnections: 40 }),
      createTestDatabase('restore_control'),
      createTestDatabase('restore_tenant'),
    ]);
    restored.control = withDatabase(target.url, 'control');
    restored.tenant = withDatabase(target.url, 'tenant');
  }, 120_000);
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await Promise.all([control?.drop(), tenant?.drop()]);
    await target?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  /** The same written through the adapters on the source, read back by event type after the restore. */
  let before: RecordedEvent[];

  it('writes a log with an overtaken commit, and checkpoints in every table, on the source cluster', async () => {
    // The restored ids must lie above the fresh cluster's: the test cluster may be young too.
    await advanceXidTo(control.url, (await nextXid(target.url)) + 20_000n);
    const store = await PostgresEventStore.create(control.url);
    const pool = new pg.Pool({ connectionString: control.url, max: 3 });
    try {
      await store.appendToStream('report-acme.r1', [event('Requested'), event('Started')]);
      // "Early" takes its transaction id first but appends after "Late": log order differs from position order.
      const early = new pg.Client({ connectionString: control.url });
      await early.connect();
      await early.query('BEGIN');
      await store.lockForAppend(early);
      await early.query('SELECT pg_current_xact_id()');
      await store.appendToStream('report-acme.r2', [event('Late')]);
      await store.appendWithin(early, 'report-acme.r3', [event('Early')]);
      await early.query('COMMIT');
      await early.end();
      await store.appendToStream('report-acme.r1', [event('Done')]);

      before = await store.readAll();
      const at = (type: string) => before.find((e) => e.type === type)!;
      expect(before.map((e) => e.type)).toEqual(['Requested', 'Started', 'Early', 'Late', 'Done']);
      const position = (e: RecordedEvent) => BigInt(e.checkpoint.split(':')[1]);
      expect(position(at('Early'))).toBeGreaterThan(position(at('Late')));

      const work = new PostgresScheduledWork(pool);
      const deliveries = new PostgresDeliveryCheckpoints(pool);
      const parked = new PostgresParkedEvents(pool);
      await Promise.all([
        work.migrate(),
        deliveries.migrate(),
        parked.migrate(),
        new PostgresProjectionRebuilds(pool).migrate(),
      ]);
      await work.apply('scheduled-work', { after: undefined, to: at('Early').checkpoint }, []);
      await deliveries.store('report-notifications', { after: undefined, to: at('Started').checkpoint });
      for (const e of [at('Late'), at('Requested')])
        await parked.park({
          subscription: 'reports:acme',
          tenantId: 'acme',
          eventId: e.id,
          streamName: e.streamName,
          revision: e.revision,
          checkpoint: e.checkpoint,
          type: e.type,
          error: 'test',
          attempts: 3,
          parkedAt: new Date(),
        });
      await parked.resolve('reports:acme', at('Requested').id, 'skipped', 'test');

      const databases = tenantDatabases(tenant.url, pool);
      try {
        await (
          await databases.em('acme')
        ).execute(
          "INSERT INTO projection_checkpoints (name, checkpoint, updated_at) VALUES ('reports', ?, now())",
          [at('Late').checkpoint],
        );
      } finally {
        await databases.close();
      }
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('dumps both databases with pg_dump and restores them with psql into the second cluster', async () => {
    for (const [from, to] of [
      [control.url, restored.control],
      [tenant.url, restored.tenant],
    ]) {
      const name = new URL(to).pathname.slice(1);
      await dump(from, join(dir, `${name}.sql`));
      await query(target.url, `CREATE DATABASE "${name}"`);
      await restore(join(dir, `${name}.sql`), to);
    }
    expect(await identityOf(restored.control)).not.toBe(await identityOf(control.url));
  });

  it('before the re-base: the store refuses to start, naming both clusters and the command', async () => {
    // What the refusal prevents: the restored events are there but invisible to readers.
    const blind = await PostgresEventStore.create(restored.control, { migrate: false });
    cleanups.push(() => blind.close());
    expect(await query(restored.control, 'SELECT count(*)::int AS n FROM events')).toEqual([{ n: 5 }]);
    expect(await blind.readAll()).toEqual([]);

    const refusal = PostgresEventStore.create(restored.control);
    await expect(refusal).rejects.toThrow(EventLogFromAnotherCluster);
    await expect(refusal).rejects.toThrow(`written by PostgreSQL cluster ${await identityOf(control.url)}`);
    await expect(refusal).rejects.toThrow(`this is cluster ${await identityOf(restored.control)}`);
    await expect(refusal).rejects.toThrow('npm run conflux -- restore rebase');
  });

  it('after the re-base: restored events in their order, checkpoints that resume exactly, new events after', async () => {
    const pool = new pg.Pool({ connectionString: restored.control, max: 3 });
    cleanups.push(() => pool.end());
    const result = await rebaseEventLog(pool);
    expect(result).toMatchObject({
      outcome: 'rebased',
      from: await identityOf(control.url),
      to: await identityOf(restored.control),
      events: 5,
      checkpoints: {
        subscription_checkpoints: 1,
        delivery_checkpoints: 1,
        parked_events: 1,
        parked_event_actions: 1,
      },
    });

    const store = await PostgresEventStore.create(restored.control, { pollIntervalMs: 50 });
    cleanups.push(() => store.close());
    const after = await store.readAll();
    expect(after.map((e) => e.id)).toEqual(before.map((e) => e.id));
    const at = (type: string) => after.find((e) => e.type === type)!;

    const stored = async (sql: string) => (await query<{ c: string }>(restored.control, sql))[0].c;
    expect(
      await stored(`SELECT checkpoint AS c FROM subscription_checkpoints WHERE name = 'scheduled-work'`),
    ).toBe(at('Early').checkpoint);
    expect(await stored('SELECT checkpoint AS c FROM delivery_checkpoints')).toBe(at('Started').checkpoint);
    expect(await stored('SELECT checkpoint AS c FROM parked_events')).toBe(at('Late').checkpoint);
    expect(await stored(`SELECT event->>'checkpoint' AS c FROM parked_event_actions`)).toBe(
      at('Requested').checkpoint,
    );

    // The process manager resumes after "Early": it gets "Late" (a lower position) and "Done", then new events.
    const resumed = subscribe(store, at('Early').checkpoint);
    try {
      await waitUntil('the restored events after the checkpoint arrive', () => resumed.seen.length >= 2);
      await store.appendToStream('report-acme.r4', [event('New')]);
      await waitUntil('the new event arrives', () => resumed.seen.length >= 3);
    } finally {
      await resumed.stop();
    }
    expect(resumed.seen.map((e) => e.type)).toEqual(['Late', 'Done', 'New']);
    expect((await store.readAll()).map((e) => e.type)).toEqual([
      'Requested',
      'Started',
      'Early',
      'Late',
      'Done',
      'New',
    ]);

    // The tenant database's projection checkpoint follows when the tenant is opened.
    const databases = tenantDatabases(restored.tenant, pool);
    cleanups.push(() => databases.close());
    const em = await databases.em('acme');
    expect(await em.execute('SELECT checkpoint FROM projection_checkpoints')).toEqual([
      { checkpoint: at('Late').checkpoint },
    ]);
    expect(await em.execute('SELECT log_identity FROM projection_checkpoints_log')).toEqual([
      { log_identity: await identityOf(restored.control) },
    ]);

    // Re-running (after a crash, or by mistake) changes nothing.
    const settled = (await store.readAll()).map((e) => e.checkpoint);
    expect(await rebaseEventLog(pool)).toEqual({
      outcome: 'unchanged',
      identity: await identityOf(restored.control),
    });
    expect((await store.readAll()).map((e) => e.checkpoint)).toEqual(settled);
  });

  it('maps every checkpoint column of the control database', async () => {
    const tables = await query<{ table_name: string }>(
      restored.control,
      `SELECT DISTINCT table_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name LIKE '%checkpoint%' ORDER BY table_name`,
    );
    for (const { table_name } of tables) expect(REBASED_CHECKPOINT_TABLES).toContain(table_name);
  });

  it('a log with more commit reorderings than the cluster has assigned ids: ids are consumed first', async () => {
    const url = withDatabase(target.url, 'busy');
    await query(target.url, 'CREATE DATABASE busy');
    const setup = await PostgresEventStore.create(url);
    await setup.close();
    // Every transaction overtook the one before: as many segments as transactions, beyond the next id.
    const n = Number(await nextXid(url)) + 500;
    const half = Math.floor(n / 2);
    await query(
      url,
      `INSERT INTO events (position, transaction_id, stream_name, revision, id, type, data, metadata, category)
       SELECT 10000000 - i, (1000000000000 + i)::text::xid8, 'bulk-' || i, 0, gen_random_uuid(), 'Bulk', to_jsonb(i),
              '{"tenantId": "acme"}', 'bulk'
       FROM generate_series(1, $1::int) AS i`,
      [n],
    );
    await query(url, `UPDATE event_log_identity SET system_identifier = 'another'`);
    await query(
      url,
      `CREATE TABLE subscription_checkpoints (name text PRIMARY KEY, checkpoint text NOT NULL)`,
    );
    await query(url, `INSERT INTO subscription_checkpoints VALUES ('half', $1)`, [
      `${1000000000000 + half}:${10000000 - half}`,
    ]);

    const pool = new pg.Pool({ connectionString: url, max: 2 });
    cleanups.push(() => pool.end());
    const result = await rebaseEventLog(pool);
    expect(result).toMatchObject({ outcome: 'rebased', from: 'another', events: n, segments: n });
    expect(result.outcome === 'rebased' && result.burned).toBeGreaterThan(0);

    const store = await PostgresEventStore.create(url);
    cleanups.push(() => store.close());
    await store.appendToStream('report-acme.after', [event('After')]);
    const all = await store.readAll();
    expect(all.map((e) => e.data)).toEqual([
      ...Array.from({ length: n }, (_, i) => i + 1),
      { type: 'After' },
    ]);
    const [{ checkpoint }] = await query<{ checkpoint: Checkpoint }>(
      url,
      'SELECT checkpoint FROM subscription_checkpoints',
    );
    expect((await store.readAll({ after: checkpoint, maxCount: 1 }))[0].data).toBe(half + 1);
  });
});
