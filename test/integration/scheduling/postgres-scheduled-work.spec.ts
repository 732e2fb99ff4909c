import pg from 'pg';
import type { Checkpoint } from '../../../src/application/ports/event-store.port.js';
import type { WorkItem } from '../../../src/application/ports/scheduled-work.port.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { createTestDatabase } from '../../support/database.js';

const item = (step: WorkItem['step'], dueAt: Date, reportId = 'r1'): WorkItem => ({
  tenantId: 'acme',
  reportId,
  step,
  kind: 'submit',
  attempt: 0,
  retries: 0,
  jobId: null,
  dueAt,
  deadlineAt: new Date(dueAt.getTime() + 60_000),
  subject: { taxId: 'T1' },
  period: { from: '2026-01-01', to: '2026-06-30' },
});
const cp = (n: number) => `cp-${n}` as Checkpoint;

describe('PostgresScheduledWork', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let work: PostgresScheduledWork;

  beforeAll(async () => {
    db = await createTestDatabase('work');
    pool = new pg.Pool({ connectionString: db.url, max: 8 });
    work = new PostgresScheduledWork(pool);
    await work.migrate();
    await work.migrate(); // idempotent
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(() => pool.query('TRUNCATE scheduled_work, subscription_checkpoints'));

  it('stores the checkpoint with the changes, and a failing change stores neither', async () => {
    const past = new Date(Date.now() - 1000);
    await work.apply('p', cp(1), [{ op: 'upsert', item: item('credit-bureau', past) }]);
    expect(await work.checkpoint('p')).toBe('cp-1');
    const bad = { op: 'upsert', item: { ...item('tax-authority', past), dueAt: 'not a date' } } as never;
    await expect(
      work.apply('p', cp(2), [{ op: 'upsert', item: item('bank-transactions', past) }, bad]),
    ).rejects.toThrow();
    expect(await work.checkpoint('p')).toBe('cp-1');
    const { rows } = await pool.query('SELECT step FROM scheduled_work');
    expect(rows.map((r) => r.step)).toEqual(['credit-bureau']);
  });

  it('hands each due row to exactly one of many concurrent claimers, and nothing not yet due', async () => {
    const past = new Date(Date.now() - 1000);
    const changes = Array.from({ length: 30 }, (_, i) => ({
      op: 'upsert' as const,
      item: item('credit-bureau', past, `r${i}`),
    }));
    changes.push({ op: 'upsert', item: item('credit-bureau', new Date(Date.now() + 60_000), 'future') });
    await work.apply('p', cp(1), changes);
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => work.claimDue(`w${i}`, 10, 10_000)));
    const ids = claims.flat().map((c) => c.reportId);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    expect(ids).not.toContain('future');
    expect(await work.claimDue('late', 10, 10_000)).toEqual([]);
  });

  it('gives a row to another worker once its lease expired (a crashed worker), not before', async () => {
    await work.apply('p', cp(1), [
      { op: 'upsert', item: item('credit-bureau', new Date(Date.now() - 1000)) },
    ]);
    expect(await work.claimDue('crashed', 10, 300)).toHaveLength(1);
    expect(await work.claimDue('other', 10, 300)).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 400));
    const [again] = await work.claimDue('other', 10, 300);
    expect(again?.reportId).toBe('r1');
  });

  it('a scheduled poll moves the row, frees its lease, and an old attempt does not move it back', async () => {
    await work.apply('p', cp(1), [
      { op: 'upsert', item: item('credit-bureau', new Date(Date.now() - 1000)) },
    ]);
    await work.apply('p', cp(2), [
      { op: 'job', tenantId: 'acme', reportId: 'r1', step: 'credit-bureau', jobId: 'job-1' },
    ]);
    await work.claimDue('w', 10, 60_000);
    const due = new Date(Date.now() - 10);
    await work.apply('p', cp(3), [
      { op: 'schedule', tenantId: 'acme', reportId: 'r1', step: 'credit-bureau', attempt: 2, dueAt: due },
    ]);
    await work.apply('p', cp(4), [
      {
        op: 'schedule',
        tenantId: 'acme',
        reportId: 'r1',
        step: 'credit-bureau',
        attempt: 1,
        dueAt: new Date(Date.now() + 60_000),
      },
    ]);
    const [claimed] = await work.claimDue('w2', 10, 60_000);
    expect(claimed).toMatchObject({ kind: 'poll', attempt: 2, jobId: 'job-1' });
  });

  it('adds the generation row only once no provider row of the report is left', async () => {
    const past = new Date(Date.now() - 1000);
    await work.apply('p', cp(1), [
      { op: 'upsert', item: item('credit-bureau', past) },
      { op: 'upsert', item: item('tax-authority', past) },
    ]);
    const done = (step: 'credit-bureau' | 'tax-authority') => [
      { op: 'delete' as const, tenantId: 'acme', reportId: 'r1', step },
      { op: 'generate-when-providers-done' as const, tenantId: 'acme', reportId: 'r1', dueAt: past },
    ];
    await work.apply('p', cp(2), done('credit-bureau'));
    expect((await pool.query(`SELECT step FROM scheduled_work`)).rows.map((r) => r.step)).toEqual([
      'tax-authority',
    ]);
    await work.apply('p', cp(3), done('tax-authority'));
    await work.apply('p', cp(3), done('tax-authority')); // re-delivery
    expect((await pool.query(`SELECT step, kind FROM scheduled_work`)).rows).toEqual([
      { step: 'generation', kind: 'generate' },
    ]);
  });

  it('retryLater releases the row to a later time and counts the retry, only for its owner', async () => {
    await work.apply('p', cp(1), [
      { op: 'upsert', item: item('credit-bureau', new Date(Date.now() - 1000)) },
    ]);
    const [claimed] = await work.claimDue('w', 10, 60_000);
    await work.retryLater('someone-else', claimed, new Date(Date.now() - 1));
    expect(await work.claimDue('x', 10, 60_000)).toEqual([]);
    await work.retryLater('w', claimed, new Date(Date.now() - 1));
    const [again] = await work.claimDue('x', 10, 60_000);
    expect(again?.retries).toBe(1);
    expect(await work.nextDueAt()).not.toBeNull();
  });
});
