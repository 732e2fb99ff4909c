import pg from 'pg';
import type { CheckpointMove } from '../../../src/application/ports/checkpoint-fence.port.js';
import type { WorkChange } from '../../../src/application/ports/scheduled-work.port.js';
import { defaultProcessOptions } from '../../../src/application/report/process/process-options.js';
import type { ReportWorker } from '../../../src/application/report/process/report-worker.js';
import { ScheduledWorkSubscriber } from '../../../src/application/report/process/scheduled-work.subscriber.js';
import { REPORT_CATEGORY, reportStream } from '../../../src/application/report/report-stream.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresSubscriptionLeadership } from '../../../src/infrastructure/event-store/postgres-subscription-leadership.js';
import { createLogger } from '../../../src/infrastructure/logging/pino-logger.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { createTestDatabase } from '../../support/database.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * Issue 8 item 4 (ADR 0014): leadership is not a fence. Two instances run the scheduled-work subscription
 * over one database. Instance A leads and reads the page [ReportRequested]; its transaction is held in
 * flight (a hook before `apply`) while A's leadership session is terminated, B takes over and applies
 * [ReportRequested, ReportCancelled] — three provider rows inserted, then deleted (a retention row stays). When A's page finally runs it
 * must commit nothing: no zombie rows for the cancelled report, and the checkpoint does not go back.
 */
class HeldScheduledWork extends PostgresScheduledWork {
  readonly outcomes: string[] = [];
  held = false;
  private releaseGate!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.releaseGate = resolve));

  release(): void {
    this.releaseGate();
  }

  override async apply(
    projection: string,
    move: CheckpointMove,
    changes: readonly WorkChange[],
  ): Promise<void> {
    this.held = true;
    await this.gate;
    try {
      await super.apply(projection, move, changes);
      this.outcomes.push('committed');
    } catch (error) {
      this.outcomes.push(error instanceof Error ? error.name : String(error));
      throw error;
    }
  }
}

describe('scheduled work: a deposed leader’s page in flight (fenced checkpoint)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: PostgresEventStore;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('work_fence');
    store = await PostgresEventStore.create(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    await new PostgresScheduledWork(pool).migrate();
  });
  afterAll(async () => {
    await pool.end();
    await store.close();
    await db.drop();
  });

  /** Sessions holding a leadership lock in this database (as in subscription-leadership.spec.ts). */
  const leaderSessions = async (): Promise<number[]> =>
    (
      await pool.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1131368039 AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      )
    ).rows.map((r) => r.pid);
  const rows = async () => (await pool.query('SELECT report_id, step FROM scheduled_work')).rows;
  const stored = async () =>
    (
      await pool.query<{ checkpoint: string }>(
        `SELECT checkpoint FROM subscription_checkpoints WHERE name = 'scheduled-work'`,
      )
    ).rows[0]?.checkpoint;

  const instance = (work: PostgresScheduledWork) => {
    const leadership = new PostgresSubscriptionLeadership({ connectionString: db.url }, 50);
    const subscriber = new ScheduledWorkSubscriber(
      store,
      work,
      defaultProcessOptions,
      { nudge: () => undefined } as unknown as ReportWorker,
      createLogger('silent'),
      { leadership, retryDelayMs: 20 },
    );
    subscriber.onApplicationBootstrap();
    return { subscriber, leadership };
  };

  it("commits nothing from the deposed leader's page: no zombie rows, the checkpoint never moves back", async () => {
    const stream = reportStream('acme', 'r1');
    await store.appendToStream(stream, [
      {
        type: 'ReportRequested',
        data: {
          reportId: 'r1',
          tenantId: 'acme',
          requestedBy: 'u1',
          subject: { taxId: 'T-1' },
          period: { from: '2026-01-01', to: '2026-03-31' },
          requestedAt: '2026-04-01T10:00:00.000Z',
        },
        metadata: { tenantId: 'acme' },
      },
    ]);
    const heldWork = new HeldScheduledWork(pool);
    const a = instance(heldWork);
    let b: ReturnType<typeof instance> | undefined;
    try {
      await waitUntil('A holds its page [ReportRequested] in flight', () => heldWork.held);
      await store.appendToStream(stream, [
        {
          type: 'ReportCancelled',
          data: { reportId: 'r1', cancelledBy: 'u1', cancelledAt: '2026-04-01T10:01:00.000Z' },
          metadata: { tenantId: 'acme' },
        },
      ]);
      const last = (await store.readAll({ filter: { categories: [REPORT_CATEGORY] } })).at(-1)!.checkpoint;

      // A's leadership session dies (pg_terminate_backend, as a partition would end it); B takes over.
      const [pid, ...others] = await leaderSessions();
      expect(others).toEqual([]);
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      b = instance(new PostgresScheduledWork(pool));
      await waitUntil('B applied both events', async () => (await stored()) === last);
      // Only the cancelled report's retention row remains: its provider steps are gone.
      const settled = [{ report_id: 'r1', step: 'retention' }];
      expect(await rows()).toEqual(settled);

      // A's page lands late.
      heldWork.release();
      await waitUntil("A's page is settled", () => heldWork.outcomes.length > 0);
      expect(heldWork.outcomes[0]).toBe('CheckpointMoved');
      expect(await rows()).toEqual(settled); // no zombie provider rows
      expect(await stored()).toBe(last); // not moved back to ReportRequested's checkpoint
    } finally {
      heldWork.release();
      await Promise.all([
        a.subscriber.beforeApplicationShutdown(),
        b?.subscriber.beforeApplicationShutdown(),
      ]);
      await Promise.all([a.leadership.close(), b?.leadership.close()]);
    }
    // Whatever A did after its page rolled back, nothing moved the checkpoint back nor re-inserted rows.
    expect(await rows()).toEqual([{ report_id: 'r1', step: 'retention' }]);
    expect(await stored()).toBe(
      (await store.readAll({ filter: { categories: [REPORT_CATEGORY] } })).at(-1)!.checkpoint,
    );
  }, 60_000);
});
