import pg from 'pg';
import {
  WrongExpectedVersionError,
  type Checkpoint,
  type EventStore,
  type NewEvent,
} from '../../../src/application/ports/event-store.port.js';
import { LeaseLostError, type NewWorkItem } from '../../../src/application/ports/scheduled-work.port.js';
import { KurrentDbEventStore } from '../../../src/infrastructure/event-store/kurrentdb-event-store.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { createTestDatabase } from '../../support/database.js';
import { FakeKurrentDb } from '../../support/fake-kurrentdb.js';

/**
 * ScheduledWork.appendFenced with EVENT_STORE=eventstoredb: the event store cannot join the row's
 * transaction, so the fence degrades to check-then-append with the expected revision as the guard
 * (ADR 0021). The scheduled-work table is real PostgreSQL; the event store is the KurrentDB adapter on the
 * in-memory model of the server (test/support/fake-kurrentdb.ts), as no server runs here.
 */
const item = (reportId: string): NewWorkItem => ({
  tenantId: 'acme',
  reportId,
  step: 'credit-bureau',
  kind: 'submit',
  attempt: 0,
  jobId: null,
  deadlineInMs: 60_000,
  subject: { taxId: 'T1' },
  period: { from: '2026-01-01', to: '2026-06-30' },
});
const event = (by: string): NewEvent => ({ type: 'Noted', data: { by }, metadata: { tenantId: 'acme' } });

describe('PostgresScheduledWork.appendFenced with the KurrentDB event store: check-then-append', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let store: KurrentDbEventStore;
  /** Runs before each append of the store: a test opens the window between the check and the append. */
  let beforeAppend: () => Promise<void> = async () => undefined;
  let work: PostgresScheduledWork;

  beforeAll(async () => {
    db = await createTestDatabase('kurrent_fenced');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
    pool.on('error', () => undefined);
    store = new KurrentDbEventStore(new FakeKurrentDb().client());
    const gated: EventStore = {
      readStream: (...args) => store.readStream(...args),
      readAll: (...args) => store.readAll(...args),
      subscribeToAll: (...args) => store.subscribeToAll(...args),
      subscribeToAllPages: (...args) => store.subscribeToAllPages(...args),
      appendToStream: async (...args) => {
        await beforeAppend();
        return store.appendToStream(...args);
      },
    };
    // The KurrentDB store with a hook before each append; not a PostgresEventStore, like the store itself.
    work = new PostgresScheduledWork(pool, gated);
    await work.migrate();
  });
  afterAll(async () => {
    await store.close();
    await pool.end();
    await db.drop();
  });
  afterEach(() => {
    beforeAppend = async () => undefined;
  });

  const claimed = async (reportId: string, owner = 'w') => {
    await work.apply('p', { after: await work.checkpoint('p'), to: 'cp' as Checkpoint }, [
      { op: 'upsert', item: item(reportId) },
    ]);
    const [claim] = (await work.claimDue(owner, 1, 60_000)).items;
    return claim;
  };
  const takeOver = async (reportId: string) => {
    await pool.query(`UPDATE scheduled_work SET lease_until = now() - interval '1 s' WHERE report_id = $1`, [
      reportId,
    ]);
    const [claim] = (await work.claimDue('thief', 1, 60_000)).items;
    return claim;
  };

  it('appends, then moves the row, while the claim holds it', async () => {
    const claim = await claimed('k1');
    await work.appendFenced(claim, 'note-acme.k1', [event('w')], {
      expectedRevision: 'no_stream',
      move: { to: 'delete' },
    });
    expect(await store.readStream('note-acme.k1')).toHaveLength(1);
    expect((await pool.query(`SELECT 1 FROM scheduled_work WHERE report_id = 'k1'`)).rows).toEqual([]);
  });

  it('appends nothing once another claim took the row before the check', async () => {
    const stale = await claimed('k2');
    await takeOver('k2');
    await expect(
      work.appendFenced(stale, 'note-acme.k2', [event('w')], { move: { to: 'delete' } }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.readStream('note-acme.k2')).toEqual([]);
  });

  it('a takeover between the check and the append: the expected revision decides, the new claim wins', async () => {
    const stale = await claimed('k3');
    beforeAppend = async () => {
      beforeAppend = async () => undefined;
      const taker = await takeOver('k3');
      await work.appendFenced(taker, 'note-acme.k3', [event('thief')], { expectedRevision: 'no_stream' });
    };
    await expect(
      work.appendFenced(stale, 'note-acme.k3', [event('w')], {
        expectedRevision: 'no_stream',
        move: { to: 'delete' },
      }),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect((await store.readStream('note-acme.k3')).map((e) => e.data)).toEqual([{ by: 'thief' }]);
    const { rows } = await pool.query(`SELECT lease_owner FROM scheduled_work WHERE report_id = 'k3'`);
    expect(rows).toEqual([{ lease_owner: 'thief' }]);
  });

  it('what degrades: a takeover between the check and the append, before the new claim appends, lets the old claim append once (and not move the row)', async () => {
    const stale = await claimed('k4');
    beforeAppend = async () => {
      beforeAppend = async () => undefined;
      await takeOver('k4');
    };
    await work.appendFenced(stale, 'note-acme.k4', [event('w')], {
      expectedRevision: 'no_stream',
      move: { to: 'delete' },
    });
    expect((await store.readStream('note-acme.k4')).map((e) => e.data)).toEqual([{ by: 'w' }]);
    const { rows } = await pool.query(`SELECT lease_owner FROM scheduled_work WHERE report_id = 'k4'`);
    expect(rows).toEqual([{ lease_owner: 'thief' }]);
  });
});
