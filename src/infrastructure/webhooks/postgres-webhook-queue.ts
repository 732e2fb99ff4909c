import type { CheckpointMove } from '../../application/ports/checkpoint-fence.port.js';
import { storeCheckpointFenced } from '../postgres/fenced-checkpoint.js';
import type pg from 'pg';
import type { Checkpoint } from '../../application/ports/event-store.port.js';
import type {
  NewWebhookDelivery,
  NewWebhookEvent,
  WebhookFanOut,
  WebhookQueue,
  WebhookWork,
} from '../../application/ports/webhook-queue.port.js';
import { inTransaction } from '../postgres/transaction.js';
import { claimDueRows, nextDueInMsOf } from '../scheduling/postgres-scheduled-work.js';

const QUEUE = 'webhook';

type Payload = Readonly<{
  eventType: string;
  body: string;
  traceparent?: string;
  eventId?: string;
  endpointId?: string;
  webhookId?: string;
}>;
type Row = {
  tenant_id: string;
  report_id: string;
  kind: 'fan-out' | 'deliver';
  attempt: number;
  payload: Payload;
  lease_token: string;
};

const toWork = (r: Row): WebhookWork => {
  const common = {
    tenantId: r.tenant_id,
    reportId: r.report_id,
    eventType: r.payload.eventType,
    body: r.payload.body,
    ...(r.payload.traceparent ? { traceparent: r.payload.traceparent } : {}),
    attempt: r.attempt,
    leaseToken: Number(r.lease_token),
  };
  return r.kind === 'fan-out'
    ? { kind: 'fan-out', ...common, eventId: r.payload.eventId ?? '' }
    : {
        kind: 'deliver',
        ...common,
        endpointId: r.payload.endpointId ?? '',
        webhookId: r.payload.webhookId ?? '',
      };
};

/** The row's step: `fan-out:<event id>`, or `webhook:<webhook id>` (unique per event and endpoint). */
const stepOf = (w: Pick<NewWebhookEvent, 'eventId'> | Pick<NewWebhookDelivery, 'webhookId'>): string =>
  'eventId' in w ? `fan-out:${w.eventId}` : `webhook:${w.webhookId}`;
const HELD = `queue = '${QUEUE}' AND tenant_id = $1 AND report_id = $2 AND step = $3 AND lease_token = $4 AND lease_until >= now()`;
const held = (w: WebhookWork) => [w.tenantId, w.reportId, stepOf(w), w.leaseToken];

const insert = (
  db: pg.ClientBase,
  kind: WebhookWork['kind'],
  w: NewWebhookEvent | NewWebhookDelivery,
): Promise<pg.QueryResult> => {
  const { tenantId, reportId, ...payload } = w;
  return db.query(
    `INSERT INTO scheduled_work (queue, tenant_id, report_id, step, kind, due_at, deadline_at, payload)
     VALUES ('${QUEUE}', $1, $2, $3, $4, now(), now(), $5)
     ON CONFLICT (tenant_id, report_id, step) DO NOTHING`,
    [tenantId, reportId, stepOf(w), kind, JSON.stringify(payload)],
  );
};

/**
 * Webhook work as rows of the scheduled-work table (control database), queue `webhook`; the table's
 * schema and the fair claim are PostgresScheduledWork's (it must have migrated first). The subscription
 * checkpoint goes to the same database's `subscription_checkpoints`, in the transaction that queues the
 * fan-outs. `deadline_at` is not used by this queue (set to the insert time).
 */
export class PostgresWebhookQueue implements WebhookQueue {
  constructor(private readonly pool: pg.Pool) {}

  /** The fenced checkpoint move first (CheckpointMoved rolls the page back), then the fan-outs. */
  schedule(subscription: string, move: CheckpointMove, events: readonly NewWebhookEvent[]): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      await storeCheckpointFenced(client, 'subscription_checkpoints', subscription, move);
      for (const event of events) await insert(client, 'fan-out', event);
    });
  }

  async checkpoint(subscription: string): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query<{ checkpoint: Checkpoint }>(
      'SELECT checkpoint FROM subscription_checkpoints WHERE name = $1',
      [subscription],
    );
    return rows[0]?.checkpoint;
  }

  async claimDue(owner: string, limit: number, leaseMs: number, perTenant: number): Promise<WebhookWork[]> {
    const { rows } = await claimDueRows<Row>(this.pool, { queue: QUEUE, owner, limit, leaseMs, perTenant });
    return rows.map(toWork);
  }

  expand(fanOut: WebhookFanOut, deliveries: readonly NewWebhookDelivery[]): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query(`DELETE FROM scheduled_work WHERE ${HELD}`, held(fanOut));
      if (!rowCount) return false;
      for (const delivery of deliveries) await insert(client, 'deliver', delivery);
      return true;
    });
  }

  async retry(work: WebhookWork, delayMs: number): Promise<Date | null> {
    const { rows } = await this.pool.query<{ due_at: Date }>(
      `UPDATE scheduled_work
         SET attempt = attempt + 1, retries = 0, due_at = now() + make_interval(secs => $5::double precision / 1000),
             lease_owner = NULL, lease_until = NULL
       WHERE ${HELD} RETURNING due_at`,
      [...held(work), delayMs],
    );
    return rows[0]?.due_at ?? null;
  }

  async postpone(work: WebhookWork, delayMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE scheduled_work
         SET due_at = now() + make_interval(secs => $5::double precision / 1000), lease_owner = NULL, lease_until = NULL
       WHERE ${HELD}`,
      [...held(work), delayMs],
    );
    return (rowCount ?? 0) > 0;
  }

  async finish(work: WebhookWork): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM scheduled_work WHERE ${HELD}`, held(work));
    return (rowCount ?? 0) > 0;
  }

  nextDueInMs(): Promise<number | null> {
    return nextDueInMsOf(this.pool, QUEUE);
  }
}
