import pg from 'pg';
import { CheckpointMoved } from '../../../src/application/ports/checkpoint-fence.port.js';
import type { Checkpoint } from '../../../src/application/ports/event-store.port.js';
import type { NewWorkItem } from '../../../src/application/ports/scheduled-work.port.js';
import type {
  NewWebhookEvent,
  WebhookFanOut,
  WebhookWork,
} from '../../../src/application/ports/webhook-queue.port.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { PostgresWebhookQueue } from '../../../src/infrastructure/webhooks/postgres-webhook-queue.js';
import { createTestDatabase } from '../../support/database.js';

const cp = (n: number) => `cp-${n}` as Checkpoint;
/** A move to `to` from the stored checkpoint: the page a sole leader would write. */
const following = async (
  store: { checkpoint(name: string): Promise<Checkpoint | undefined> },
  name: string,
  to: Checkpoint,
) => ({ after: await store.checkpoint(name), to });
const event = (eventId: string, tenantId = 'acme', reportId = 'r1'): NewWebhookEvent => ({
  tenantId,
  reportId,
  eventId,
  eventType: 'report.ready',
  body: '{"type":"report.ready"}',
});
const stepOf = (w: WebhookWork) => (w.kind === 'fan-out' ? w.eventId : w.webhookId);
const reportStep = (reportId: string, tenantId = 'acme'): NewWorkItem => ({
  tenantId,
  reportId,
  step: 'credit-bureau',
  kind: 'submit',
  attempt: 0,
  jobId: null,
  deadlineInMs: 60_000,
  subject: { taxId: 'T1' },
  period: { from: '2026-01-01', to: '2026-06-30' },
});

describe('PostgresWebhookQueue (the scheduled-work table, queue "webhook")', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let work: PostgresScheduledWork;
  let queue: PostgresWebhookQueue;

  beforeAll(async () => {
    db = await createTestDatabase('webhook_queue');
    pool = new pg.Pool({ connectionString: db.url, max: 8 });
    // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
    pool.on('error', () => undefined);
    work = new PostgresScheduledWork(pool);
    await work.migrate();
    queue = new PostgresWebhookQueue(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(() => pool.query('TRUNCATE scheduled_work, subscription_checkpoints'));

  it('queues nothing when another writer moved the checkpoint since the page was read (the fence)', async () => {
    await queue.schedule('webhook-deliveries', { after: undefined, to: cp(1) }, []);
    await queue.schedule('webhook-deliveries', { after: cp(1), to: cp(3) }, [event('e2')]); // the new leader
    await expect(
      queue.schedule('webhook-deliveries', { after: cp(1), to: cp(2) }, [event('e1')]), // the deposed one, late
    ).rejects.toBeInstanceOf(CheckpointMoved);
    await expect(
      queue.schedule('webhook-deliveries', { after: undefined, to: cp(2) }, [event('e0')]), // a first page, late
    ).rejects.toBeInstanceOf(CheckpointMoved);
    expect(await queue.checkpoint('webhook-deliveries')).toBe('cp-3');
    const { rows } = await pool.query(`SELECT step FROM scheduled_work ORDER BY step`);
    expect(rows).toEqual([{ step: 'fan-out:e2' }]);
  });

  it('queues fan-outs with the checkpoint, once per event however often the page is re-delivered', async () => {
    await queue.schedule('webhook-deliveries', await following(queue, 'webhook-deliveries', cp(1)), [
      event('e1'),
      event('e2'),
    ]);
    await queue.schedule('webhook-deliveries', await following(queue, 'webhook-deliveries', cp(1)), [
      event('e1'),
      event('e2'),
    ]);
    expect(await queue.checkpoint('webhook-deliveries')).toBe('cp-1');
    const { rows } = await pool.query(`SELECT queue, step, kind, attempt FROM scheduled_work ORDER BY step`);
    expect(rows).toEqual([
      { queue: 'webhook', step: 'fan-out:e1', kind: 'fan-out', attempt: 0 },
      { queue: 'webhook', step: 'fan-out:e2', kind: 'fan-out', attempt: 0 },
    ]);
  });

  it('expands a held fan-out into its deliveries in one step, only for the claim that holds it', async () => {
    await queue.schedule('webhook-deliveries', await following(queue, 'webhook-deliveries', cp(1)), [
      event('e1'),
    ]);
    const [fanOut] = (await queue.claimDue('w', 10, 10_000, 10)) as WebhookFanOut[];
    expect(fanOut).toMatchObject({ kind: 'fan-out', eventId: 'e1', tenantId: 'acme', reportId: 'r1' });
    const { eventId: _e, kind: _k, attempt: _a, leaseToken: _l, ...message } = fanOut;
    const deliveries = ['p1', 'p2'].map((p) => ({ ...message, endpointId: p, webhookId: `msg_${p}` }));
    expect(await queue.expand(fanOut, deliveries)).toBe(true);
    expect(await queue.expand(fanOut, deliveries)).toBe(false); // the fan-out is gone
    const claimed = await queue.claimDue('w', 10, 10_000, 10);
    expect(claimed.map((w) => [w.kind, stepOf(w), w.body])).toEqual([
      ['deliver', 'msg_p1', '{"type":"report.ready"}'],
      ['deliver', 'msg_p2', '{"type":"report.ready"}'],
    ]);
  });

  it('keeps the two queues apart: each worker claims its own rows, and a final report deletes only its steps', async () => {
    await work.apply('scheduled-work', await following(work, 'scheduled-work', cp(1)), [
      { op: 'upsert', item: reportStep('r1') },
    ]);
    await queue.schedule('webhook-deliveries', await following(queue, 'webhook-deliveries', cp(1)), [
      event('e1', 'acme', 'r1'),
    ]);

    const reportClaim = await work.claimDue('w', 10, 10_000);
    expect(reportClaim.items.map((i) => i.step)).toEqual(['credit-bureau']);
    const webhookClaim = await queue.claimDue('w', 10, 10_000, 10);
    expect(webhookClaim.map(stepOf)).toEqual(['e1']);
    expect(await work.nextDueInMs()).toBeGreaterThan(0); // the report row is leased, the webhook row ignored

    // ReportReady (processed after the fan-out) deletes every report row of the report, not the webhook's.
    await work.apply('scheduled-work', await following(work, 'scheduled-work', cp(2)), [
      { op: 'delete', tenantId: 'acme', reportId: 'r1' },
    ]);
    const { rows } = await pool.query(`SELECT queue, step FROM scheduled_work`);
    expect(rows).toEqual([{ queue: 'webhook', step: 'fan-out:e1' }]);
  });

  it('caps the leases one tenant holds, so another tenant still gets a slot', async () => {
    await queue.schedule(
      'webhook-deliveries',
      await following(queue, 'webhook-deliveries', cp(1)),
      Array.from({ length: 6 }, (_, i) => event(`a${i}`, 'slow')),
    );
    const first = await queue.claimDue('w', 10, 10_000, 2);
    expect(first.map((d) => d.tenantId)).toEqual(['slow', 'slow']);
    expect(await queue.claimDue('w', 10, 10_000, 2)).toEqual([]); // still holding two

    await queue.schedule('webhook-deliveries', await following(queue, 'webhook-deliveries', cp(2)), [
      event('b', 'fast'),
    ]);
    const second = await queue.claimDue('w', 10, 10_000, 2);
    expect(second.map((d) => d.tenantId)).toEqual(['fast']);
  });

  it('moves a row only for the claim that holds it, counting attempts', async () => {
    await queue.schedule('webhook-deliveries', await following(queue, 'webhook-deliveries', cp(1)), [
      event('e1'),
    ]);
    const [claimed] = await queue.claimDue('w', 1, 10_000, 1);
    const due = await queue.retry(claimed, 60_000);
    expect(due).toBeInstanceOf(Date);
    expect(await queue.retry(claimed, 0)).toBeNull(); // lease released: the old claim is fenced off
    await pool.query(`UPDATE scheduled_work SET due_at = now()`);
    const [again] = await queue.claimDue('w', 1, 10_000, 1);
    expect(again).toMatchObject({ eventId: 'e1', attempt: 1 });
    expect(again.leaseToken).toBeGreaterThan(claimed.leaseToken);
    expect(await queue.finish(claimed)).toBe(false);
    expect(await queue.finish(again)).toBe(true);
    expect(await queue.nextDueInMs()).toBeNull();
  });
});
