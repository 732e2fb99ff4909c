import type pg from 'pg';
import type { Checkpoint } from '../../application/ports/event-store.port.js';
import type {
  NewWebhookDelivery,
  WebhookDelivery,
  WebhookQueue,
} from '../../application/ports/webhook-queue.port.js';
import { inTransaction } from '../postgres/transaction.js';
import { claimDueRows, nextDueInMsOf } from '../scheduling/postgres-scheduled-work.js';

const QUEUE = 'webhook';

type Payload = Omit<NewWebhookDelivery, 'tenantId' | 'reportId'>;
type Row = { tenant_id: string; report_id: string; attempt: number; payload: Payload; lease_token: string };

const toDelivery = (r: Row): WebhookDelivery => ({
  tenantId: r.tenant_id,
  reportId: r.report_id,
  endpointId: r.payload.endpointId,
  webhookId: r.payload.webhookId,
  eventType: r.payload.eventType,
  body: r.payload.body,
  ...(r.payload.traceparent ? { traceparent: r.payload.traceparent } : {}),
  attempt: r.attempt,
  leaseToken: Number(r.lease_token),
});

/** One row per delivery: the step names it (the webhook id is unique per event and endpoint). */
const stepOf = (d: Pick<NewWebhookDelivery, 'webhookId'>) => `webhook:${d.webhookId}`;
const HELD = `queue = '${QUEUE}' AND tenant_id = $1 AND report_id = $2 AND step = $3 AND lease_token = $4 AND lease_until >= now()`;
const held = (d: WebhookDelivery) => [d.tenantId, d.reportId, stepOf(d), d.leaseToken];

/**
 * Webhook deliveries as rows of the scheduled-work table (control database), queue `webhook`; the
 * table's schema and the fair claim are PostgresScheduledWork's (it must have migrated first). The
 * subscription checkpoint goes to the same database's `subscription_checkpoints`, in the transaction that
 * inserts the rows. `deadline_at` is not used by this queue (set to the insert time).
 */
export class PostgresWebhookQueue implements WebhookQueue {
  constructor(private readonly pool: pg.Pool) {}

  schedule(
    subscription: string,
    checkpoint: Checkpoint,
    deliveries: readonly NewWebhookDelivery[],
  ): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      for (const d of deliveries) {
        const payload: Payload = {
          endpointId: d.endpointId,
          webhookId: d.webhookId,
          eventType: d.eventType,
          body: d.body,
          ...(d.traceparent ? { traceparent: d.traceparent } : {}),
        };
        await client.query(
          `INSERT INTO scheduled_work (queue, tenant_id, report_id, step, kind, due_at, deadline_at, payload)
           VALUES ('${QUEUE}', $1, $2, $3, 'deliver', now(), now(), $4)
           ON CONFLICT (tenant_id, report_id, step) DO NOTHING`,
          [d.tenantId, d.reportId, stepOf(d), JSON.stringify(payload)],
        );
      }
      await client.query(
        `INSERT INTO subscription_checkpoints (name, checkpoint) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = now()`,
        [subscription, checkpoint],
      );
    });
  }

  async checkpoint(subscription: string): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query<{ checkpoint: Checkpoint }>(
      'SELECT checkpoint FROM subscription_checkpoints WHERE name = $1',
      [subscription],
    );
    return rows[0]?.checkpoint;
  }

  async claimDue(
    owner: string,
    limit: number,
    leaseMs: number,
    perTenant: number,
  ): Promise<WebhookDelivery[]> {
    const { rows } = await claimDueRows<Row>(this.pool, { queue: QUEUE, owner, limit, leaseMs, perTenant });
    return rows.map(toDelivery);
  }

  async retry(delivery: WebhookDelivery, delayMs: number): Promise<Date | null> {
    const { rows } = await this.pool.query<{ due_at: Date }>(
      `UPDATE scheduled_work
         SET attempt = attempt + 1, retries = 0, due_at = now() + make_interval(secs => $5::double precision / 1000),
             lease_owner = NULL, lease_until = NULL
       WHERE ${HELD} RETURNING due_at`,
      [...held(delivery), delayMs],
    );
    return rows[0]?.due_at ?? null;
  }

  async finish(delivery: WebhookDelivery): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM scheduled_work WHERE ${HELD}`, held(delivery));
    return (rowCount ?? 0) > 0;
  }

  nextDueInMs(): Promise<number | null> {
    return nextDueInMsOf(this.pool, QUEUE);
  }
}
