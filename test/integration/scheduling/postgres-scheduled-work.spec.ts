import fc from 'fast-check';
import pg from 'pg';
import { CheckpointMoved } from '../../../src/application/ports/checkpoint-fence.port.js';
import type { Checkpoint } from '../../../src/application/ports/event-store.port.js';
import {
  LeaseLostError,
  type NewWorkItem,
  type WorkChange,
  type WorkItem,
} from '../../../src/application/ports/scheduled-work.port.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { createTestDatabase } from '../../support/database.js';

const item = (step: WorkItem['step'], reportId = 'r1', tenantId = 'acme'): NewWorkItem => ({
  tenantId,
  reportId,
  step,
  kind: 'submit',
  attempt: 0,
  jobId: null,
  deadlineInMs: 60_000,
  subject: { taxId: 'T1' },
  period: { from: '2026-01-01', to: '2026-06-30' },
});
const cp = (n: number) => `cp-${n}` as Checkpoint;
/** A move to `to` from the stored checkpoint: the page a sole leader would write. */
const following = async (
  store: { checkpoint(name: string): Promise<Checkpoint | undefined> },
  name: string,
  to: Checkpoint,
) => ({ after: await store.checkpoint(name), to });

describe('PostgresScheduledWork', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let work: PostgresScheduledWork;

  beforeAll(async () => {
    db = await createTestDatabase('work');
    pool = new pg.Pool({ connectionString: db.url, max: 8 });
    // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
    pool.on('error', () => undefined);
    work = new PostgresScheduledWork(pool);
    await work.migrate();
    await work.migrate(); // idempotent
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(() => pool.query('TRUNCATE scheduled_work, subscription_checkpoints'));

  it('applies nothing when another writer moved the checkpoint since the page was read (the fence)', async () => {
    await work.apply('p', { after: undefined, to: cp(1) }, [{ op: 'upsert', item: item('credit-bureau') }]);
    // The new leader applies the page after cp-1: the report's final delete.
    await work.apply('p', { after: cp(1), to: cp(3) }, [{ op: 'delete', tenantId: 'acme', reportId: 'r1' }]);
    // The deposed leader's page, read after cp-1 too, lands late: it would re-insert a row (a zombie).
    await expect(
      work.apply('p', { after: cp(1), to: cp(2) }, [{ op: 'upsert', item: item('tax-authority') }]),
    ).rejects.toBeInstanceOf(CheckpointMoved);
    expect(await work.checkpoint('p')).toBe('cp-3');
    expect((await pool.query('SELECT step FROM scheduled_work')).rows).toEqual([]);
  });

  it('applies nothing from a first page (no checkpoint yet) once another writer stored one', async () => {
    await work.apply('p', { after: undefined, to: cp(2) }, []);
    await expect(
      work.apply('p', { after: undefined, to: cp(1) }, [{ op: 'upsert', item: item('credit-bureau') }]),
    ).rejects.toBeInstanceOf(CheckpointMoved);
    expect(await work.checkpoint('p')).toBe('cp-2');
    expect((await pool.query('SELECT step FROM scheduled_work')).rows).toEqual([]);
  });

  it('stores the checkpoint with the changes, and a failing change stores neither', async () => {
    await work.apply('p', await following(work, 'p', cp(1)), [{ op: 'upsert', item: item('credit-bureau') }]);
    expect(await work.checkpoint('p')).toBe('cp-1');
    const bad = { op: 'upsert', item: { ...item('tax-authority'), deadlineInMs: 'soon' } } as never;
    await expect(
      work.apply('p', await following(work, 'p', cp(2)), [
        { op: 'upsert', item: item('bank-transactions') },
        bad,
      ]),
    ).rejects.toThrow();
    expect(await work.checkpoint('p')).toBe('cp-1');
    const { rows } = await pool.query('SELECT step FROM scheduled_work');
    expect(rows.map((r) => r.step)).toEqual(['credit-bureau']);
  });

  it('applies a page of changes in one go exactly as it would apply them one by one', async () => {
    const steps = ['bank-transactions', 'credit-bureau', 'tax-authority', 'generation'] as const;
    const report = fc.constantFrom('r1', 'r2', 'r3');
    const step = fc.constantFrom(...steps);
    const change = (tenantId: string): fc.Arbitrary<WorkChange> =>
      fc.oneof(
        fc
          .record({ op: fc.constant('upsert' as const), reportId: report, step })
          .map(({ reportId, step: s }) => ({
            op: 'upsert' as const,
            item: item(s, reportId, tenantId),
          })),
        fc.record({ reportId: report, step, n: fc.nat(3) }).map(({ reportId, step: s, n }) => ({
          op: 'job' as const,
          tenantId,
          reportId,
          step: s,
          jobId: `job-${n}`,
        })),
        fc
          .record({ reportId: report, step, attempt: fc.integer({ min: 1, max: 4 }) })
          .map(({ reportId, step: s, attempt }) => ({
            op: 'schedule' as const,
            tenantId,
            reportId,
            step: s,
            attempt,
            dueAt: new Date(Date.UTC(2030, 0, attempt)),
          })),
        fc
          .record({ reportId: report, step: fc.option(step, { nil: undefined }) })
          .map(({ reportId, step: s }) => ({
            op: 'delete' as const,
            tenantId,
            reportId,
            ...(s ? { step: s } : {}),
          })),
        report.map((reportId) => ({ op: 'generate-when-providers-done' as const, tenantId, reportId })),
        report.map((reportId) => ({
          op: 'expire-at' as const,
          tenantId,
          reportId,
          dueAt: new Date(Date.UTC(2031, 0, 1)),
        })),
      );
    const rowsOf = async (tenantId: string) =>
      (
        await pool.query(
          `SELECT report_id, step, kind, attempt, job_id, payload - 'subject' AS payload, retries,
                  CASE WHEN due_at > now() + interval '1 day' THEN due_at END AS scheduled_due_at
           FROM scheduled_work WHERE tenant_id = $1 ORDER BY report_id, step`,
          [tenantId],
        )
      ).rows;
    await fc.assert(
      fc.asyncProperty(fc.array(change('one'), { maxLength: 40 }), async (sequence) => {
        await pool.query('TRUNCATE scheduled_work');
        // The same sequence for two tenants: one change per call for one, the whole page at once for the other.
        for (const c of sequence) await work.apply('p', await following(work, 'p', cp(1)), [c]);
        await work.apply(
          'p',
          await following(work, 'p', cp(2)),
          sequence.map((c) =>
            c.op === 'upsert' ? { ...c, item: { ...c.item, tenantId: 'page' } } : { ...c, tenantId: 'page' },
          ),
        );
        expect(await rowsOf('page')).toEqual(await rowsOf('one'));
      }),
      { numRuns: 60 },
    );
  });

  it('hands each due row to exactly one of many concurrent claimers, and nothing not yet due', async () => {
    const changes = Array.from({ length: 30 }, (_, i) => ({
      op: 'upsert' as const,
      item: item('credit-bureau', `r${i}`),
    }));
    await work.apply('p', await following(work, 'p', cp(1)), [
      ...changes,
      { op: 'upsert', item: item('credit-bureau', 'future') },
      {
        op: 'schedule',
        tenantId: 'acme',
        reportId: 'future',
        step: 'credit-bureau',
        attempt: 1,
        dueAt: new Date(Date.now() + 3_600_000),
      },
    ]);
    // Rounds of 8 concurrent claims until one round finds nothing: a claimer that only meets rows another
    // one has locked gets none this round (SKIP LOCKED) and takes its share in the next.
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => work.claimDue(`w${i}`, 10, 10_000)),
      );
      const claimed = claims.flatMap((c) => c.items).map((c) => c.reportId);
      if (claimed.length === 0) break;
      ids.push(...claimed);
    }
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    expect(ids).not.toContain('future');
    expect((await work.claimDue('late', 10, 10_000)).items).toEqual([]);
  });

  it('claims fairly across tenants: one row of each tenant before a burst tenant gets its second', async () => {
    await work.apply(
      'p',
      await following(work, 'p', cp(1)),
      Array.from({ length: 50 }, (_, i) => ({
        op: 'upsert' as const,
        item: item('credit-bureau', `a${i}`, 'burst'),
      })),
    );
    await work.apply('p', await following(work, 'p', cp(2)), [
      { op: 'upsert', item: item('credit-bureau', 'b1', 'quiet') },
    ]);
    const { items } = await work.claimDue('w', 4, 10_000);
    expect(items).toHaveLength(4);
    expect(items.map((i) => i.tenantId)).toContain('quiet');
  });

  it('with three tenants, two of them bursting, each claim round gives slots to the tenant holding fewest', async () => {
    const burst = (tenant: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        op: 'upsert' as const,
        item: item('credit-bureau', `${tenant}${i}`, tenant),
      }));
    await work.apply('p', await following(work, 'p', cp(1)), burst('alpha', 60));
    await work.apply('p', await following(work, 'p', cp(2)), burst('beta', 60));
    await work.apply('p', await following(work, 'p', cp(3)), [
      { op: 'upsert', item: item('credit-bureau', 'c1', 'gamma') },
    ]);
    const first = (await work.claimDue('w', 3, 10_000)).items.map((i) => i.tenantId).sort();
    expect(first).toEqual(['alpha', 'beta', 'gamma']);
    // gamma has nothing left: the next 4 slots go two and two, never four to one burst.
    const second = (await work.claimDue('w', 4, 10_000)).items.map((i) => i.tenantId).sort();
    expect(second).toEqual(['alpha', 'alpha', 'beta', 'beta']);
  });

  it('gives a row to another worker once its lease expired, with a higher fencing token and one more claim', async () => {
    await work.apply('p', await following(work, 'p', cp(1)), [{ op: 'upsert', item: item('credit-bureau') }]);
    const [first] = (await work.claimDue('crashed', 10, 300)).items;
    expect(first).toMatchObject({ claims: 1 });
    expect((await work.claimDue('other', 10, 300)).items).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 400));
    const [again] = (await work.claimDue('other', 10, 300)).items;
    expect(again?.reportId).toBe('r1');
    expect(again.leaseToken).toBeGreaterThan(first.leaseToken);
    expect(again.claims).toBe(2);
    // The first claim is fenced off: it holds nothing, and can neither move nor renew the row.
    expect(await work.holds(first)).toBe(false);
    expect(await work.move(first, { to: 'delete' })).toBe(false);
    expect(await work.renewLease([first, again], 300)).toEqual([first]);
    expect(await work.holds(again)).toBe(true);
  });

  it('the holder moves its own row to the next poll and releases it; the projection then changes nothing', async () => {
    await work.apply('p', await following(work, 'p', cp(1)), [{ op: 'upsert', item: item('credit-bureau') }]);
    const [claimed] = (await work.claimDue('w', 10, 60_000)).items;
    expect(await work.move(claimed, { to: 'poll', attempt: 1, jobId: 'job-1', delayMs: 0 })).toBe(true);
    await work.apply('p', await following(work, 'p', cp(2)), [
      { op: 'job', tenantId: 'acme', reportId: 'r1', step: 'credit-bureau', jobId: 'job-other' },
      {
        op: 'schedule',
        tenantId: 'acme',
        reportId: 'r1',
        step: 'credit-bureau',
        attempt: 1,
        dueAt: new Date(Date.now() + 60_000),
      },
    ]);
    const [next] = (await work.claimDue('w2', 10, 60_000)).items;
    expect(next).toMatchObject({ kind: 'poll', attempt: 1, jobId: 'job-1', claims: 1 });
  });

  it('adds the generation row only once no provider row of the report is left', async () => {
    await work.apply('p', await following(work, 'p', cp(1)), [
      { op: 'upsert', item: item('credit-bureau') },
      { op: 'upsert', item: item('tax-authority') },
    ]);
    const done = (step: 'credit-bureau' | 'tax-authority') => [
      { op: 'delete' as const, tenantId: 'acme', reportId: 'r1', step },
      { op: 'generate-when-providers-done' as const, tenantId: 'acme', reportId: 'r1' },
    ];
    await work.apply('p', await following(work, 'p', cp(2)), done('credit-bureau'));
    expect((await pool.query(`SELECT step FROM scheduled_work`)).rows.map((r) => r.step)).toEqual([
      'tax-authority',
    ]);
    await work.apply('p', await following(work, 'p', cp(3)), done('tax-authority'));
    await work.apply('p', await following(work, 'p', cp(3)), done('tax-authority')); // re-delivery
    expect((await pool.query(`SELECT step, kind FROM scheduled_work`)).rows).toEqual([
      { step: 'generation', kind: 'generate' },
    ]);
  });

  it('a retry releases the row to later on the database clock, only for the lease holder', async () => {
    await work.apply('p', await following(work, 'p', cp(1)), [{ op: 'upsert', item: item('credit-bureau') }]);
    const [claimed] = (await work.claimDue('w', 10, 60_000)).items;
    expect(
      await work.move({ ...claimed, leaseToken: claimed.leaseToken - 1 }, { to: 'retry', delayMs: 0 }),
    ).toBe(false);
    expect((await work.claimDue('x', 10, 60_000)).items).toEqual([]);
    expect(await work.move(claimed, { to: 'retry', delayMs: 60_000 })).toBe(true);
    expect((await work.claimDue('x', 10, 60_000)).items).toEqual([]);
    expect(await work.nextDueInMs()).toBeGreaterThan(50_000);
  });

  describe('appendFenced: the lease check, the append and the move in one transaction', () => {
    let store: PostgresEventStore;
    let fenced: PostgresScheduledWork;
    beforeAll(async () => {
      store = await PostgresEventStore.create(db.url);
      fenced = new PostgresScheduledWork(pool, store);
    });
    afterAll(() => store.close());
    const event = { type: 'Noted', data: {}, metadata: { tenantId: 'acme' } };

    it('appends and moves the row while the claim holds it', async () => {
      await work.apply('p', await following(work, 'p', cp(1)), [
        { op: 'upsert', item: item('credit-bureau', 'f1') },
      ]);
      const [claimed] = (await work.claimDue('w', 1, 60_000)).items;
      await fenced.appendFenced(claimed, 'note-acme.f1', [event], {
        expectedRevision: 'no_stream',
        move: { to: 'delete' },
      });
      expect(await store.readStream('note-acme.f1')).toHaveLength(1);
      expect((await pool.query(`SELECT 1 FROM scheduled_work WHERE report_id = 'f1'`)).rows).toEqual([]);
    });

    it('appends nothing and moves nothing once another claim took the row', async () => {
      await work.apply('p', await following(work, 'p', cp(1)), [
        { op: 'upsert', item: item('credit-bureau', 'f2') },
      ]);
      const [stale] = (await work.claimDue('w', 1, 10)).items;
      await pool.query(`UPDATE scheduled_work SET lease_until = now() - interval '1 s'`); // expired
      const [taker] = (await work.claimDue('thief', 1, 60_000)).items;
      expect(taker.leaseToken).toBe(stale.leaseToken + 1);
      await expect(
        fenced.appendFenced(stale, 'note-acme.f2', [event], { move: { to: 'delete' } }),
      ).rejects.toBeInstanceOf(LeaseLostError);
      expect(await store.readStream('note-acme.f2')).toEqual([]);
      const { rows } = await pool.query(`SELECT lease_owner FROM scheduled_work WHERE report_id = 'f2'`);
      expect(rows).toEqual([{ lease_owner: 'thief' }]);
    });

    it('a takeover that comes while the fenced append runs waits for it: before or after, never between', async () => {
      await work.apply('p', await following(work, 'p', cp(1)), [
        { op: 'upsert', item: item('credit-bureau', 'f3') },
      ]);
      const [held] = (await work.claimDue('w', 1, 60_000)).items;
      // A second connection locks the row first: the fenced append waits for it, then finds the new token.
      const other = await pool.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT 1 FROM scheduled_work WHERE report_id = 'f3' FOR UPDATE`);
        const appending = fenced.appendFenced(held, 'note-acme.f3', [event], { move: { to: 'delete' } });
        const outcome = appending.then(
          () => 'appended',
          (e: unknown) => e,
        );
        await other.query(
          `UPDATE scheduled_work SET lease_token = lease_token + 1, lease_owner = 'thief' WHERE report_id = 'f3'`,
        );
        await other.query('COMMIT');
        expect(await outcome).toBeInstanceOf(LeaseLostError);
      } finally {
        other.release();
      }
      expect(await store.readStream('note-acme.f3')).toEqual([]);
    });
  });
});
