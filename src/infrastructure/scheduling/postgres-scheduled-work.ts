import type pg from 'pg';
import type {
  AppendResult,
  Checkpoint,
  EventStore,
  ExpectedRevision,
  NewEvent,
} from '../../application/ports/event-store.port.js';
import {
  LeaseLostError,
  type Claimed,
  type RowMove,
  type ScheduledWork,
  type WorkChange,
  type WorkItem,
} from '../../application/ports/scheduled-work.port.js';
import type { CheckpointMove } from '../../application/ports/checkpoint-fence.port.js';
import { storeCheckpointFenced } from '../postgres/fenced-checkpoint.js';
import { PostgresEventStore } from '../event-store/postgres-event-store.js';
import { inTransaction, migrateSchema } from '../postgres/transaction.js';
import { applyWorkChanges } from './apply-work-changes.js';

/**
 * `queue` says which worker claims a row: `report` (the process manager's steps, this class) or `webhook`
 * (deliveries, PostgresWebhookQueue); each claims only its own queue's rows.
 * `retries` counts claims since the row last moved forward (the name predates claim-time counting);
 * `lease_token` is the fencing token, one more at every claim.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS scheduled_work (
  tenant_id   text        NOT NULL,
  report_id   text        NOT NULL,
  step        text        NOT NULL,
  kind        text        NOT NULL,
  attempt     integer     NOT NULL DEFAULT 0,
  retries     integer     NOT NULL DEFAULT 0,
  job_id      text,
  due_at      timestamptz NOT NULL,
  deadline_at timestamptz NOT NULL,
  payload     jsonb       NOT NULL,
  lease_owner text,
  lease_until timestamptz,
  PRIMARY KEY (tenant_id, report_id, step)
);
ALTER TABLE scheduled_work ADD COLUMN IF NOT EXISTS lease_token bigint NOT NULL DEFAULT 0;
ALTER TABLE scheduled_work ADD COLUMN IF NOT EXISTS queue text NOT NULL DEFAULT 'report';
CREATE INDEX IF NOT EXISTS scheduled_work_queue_tenant_due ON scheduled_work (queue, tenant_id, due_at);
CREATE INDEX IF NOT EXISTS scheduled_work_due ON scheduled_work (due_at);
CREATE INDEX IF NOT EXISTS scheduled_work_tenant_due ON scheduled_work (tenant_id, due_at);
CREATE INDEX IF NOT EXISTS scheduled_work_leased ON scheduled_work (tenant_id) WHERE lease_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS subscription_checkpoints (
  name       text PRIMARY KEY,
  checkpoint text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);`;

type Row = {
  tenant_id: string;
  report_id: string;
  step: WorkItem['step'];
  kind: WorkItem['kind'];
  attempt: number;
  retries: number;
  job_id: string | null;
  due_at: Date;
  deadline_at: Date;
  payload: { subject: WorkItem['subject']; period: WorkItem['period']; traceparent?: string };
  lease_token: string;
};

const toItem = (r: Row): WorkItem => ({
  tenantId: r.tenant_id,
  reportId: r.report_id,
  step: r.step,
  kind: r.kind,
  attempt: r.attempt,
  claims: r.retries,
  jobId: r.job_id,
  dueAt: r.due_at,
  deadlineAt: r.deadline_at,
  subject: r.payload.subject,
  period: r.payload.period,
  ...(r.payload.traceparent ? { traceparent: r.payload.traceparent } : {}),
  leaseToken: Number(r.lease_token),
});

const ms = (param: string) => `make_interval(secs => ${param}::double precision / 1000)`;
const HELD = `tenant_id = $1 AND report_id = $2 AND step = $3 AND lease_token = $4 AND lease_until >= now()`;
const key = (i: WorkItem) => [i.tenantId, i.reportId, i.step, i.leaseToken];

/**
 * The scheduled-work table and subscription checkpoints, in the control database.
 *
 * `events` is the event store that fenced appends go to. A PostgresEventStore must be on this pool's
 * database (both come from DATABASE_URL): the append then joins the row's transaction. Any other store
 * gets check-then-append, guarded by the expected revision (ADR 0013). Without one, `appendFenced` throws.
 */
export class PostgresScheduledWork implements ScheduledWork {
  constructor(
    private readonly pool: pg.Pool,
    private readonly events?: EventStore,
  ) {}

  migrate(): Promise<void> {
    return migrateSchema(this.pool, 'conflux.scheduled_work', SCHEMA);
  }

  /**
   * The projection's fenced checkpoint move first (it locks the checkpoint row; CheckpointMoved rolls the
   * page back), then the changes of the page (apply-work-changes.ts), in one transaction.
   */
  apply(projection: string, move: CheckpointMove, changes: readonly WorkChange[]): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      await storeCheckpointFenced(client, 'subscription_checkpoints', projection, move);
      await applyWorkChanges(client, changes);
    });
  }

  async checkpoint(projection: string): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query<{ checkpoint: Checkpoint }>(
      'SELECT checkpoint FROM subscription_checkpoints WHERE name = $1',
      [projection],
    );
    return rows[0]?.checkpoint;
  }

  /** Fair across tenants, across rounds: see `claimDueRows`. */
  async claimDue(owner: string, limit: number, leaseMs: number): Promise<Claimed> {
    const { rows, now } = await claimDueRows<Row>(this.pool, { queue: 'report', owner, limit, leaseMs });
    return { items: rows.map(toItem), now };
  }

  async renewLease(items: readonly WorkItem[], leaseMs: number): Promise<WorkItem[]> {
    if (items.length === 0) return [];
    // One statement for all: the keys go in as parallel arrays.
    const { rows } = await this.pool.query<{
      tenant_id: string;
      report_id: string;
      step: string;
      lease_token: string;
    }>(
      `UPDATE scheduled_work w SET lease_until = now() + ${ms('$5')}
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(tenant_id, report_id, step, token)
       WHERE w.tenant_id = k.tenant_id AND w.report_id = k.report_id AND w.step = k.step
         AND w.lease_token = k.token AND w.lease_until >= now()
       RETURNING w.tenant_id, w.report_id, w.step, w.lease_token`,
      [
        items.map((i) => i.tenantId),
        items.map((i) => i.reportId),
        items.map((i) => i.step),
        items.map((i) => i.leaseToken),
        leaseMs,
      ],
    );
    const held = new Set(rows.map((r) => `${r.tenant_id}/${r.report_id}/${r.step}/${r.lease_token}`));
    return items.filter((i) => !held.has(`${i.tenantId}/${i.reportId}/${i.step}/${i.leaseToken}`));
  }

  async holds(item: WorkItem): Promise<boolean> {
    const { rowCount } = await this.pool.query(`SELECT 1 FROM scheduled_work WHERE ${HELD}`, key(item));
    return (rowCount ?? 0) > 0;
  }

  move(item: WorkItem, move: RowMove): Promise<boolean> {
    return moveRow(this.pool, item, move);
  }

  /**
   * On PostgreSQL, one transaction: the append lock first (before the row lock gives the transaction an
   * id: horizon.ts), then the row `FOR UPDATE` where the token still matches — no row, the lease is lost
   * and the transaction rolls back — then the append (expected revision) and the row's move. A takeover
   * (claimDue) or a cancel (delete) waits on the row lock until this commits, and then sees the new row.
   */
  async appendFenced(
    item: WorkItem,
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision; move?: RowMove },
  ): Promise<AppendResult> {
    const store = this.events;
    if (!store) throw new Error('PostgresScheduledWork: appendFenced needs the event store');
    const append = { expectedRevision: options.expectedRevision ?? 'any' };
    if (!(store instanceof PostgresEventStore)) {
      // Degraded (an event store outside this database): a lease lost between the check and the append
      // can still append once; the expected revision makes it lose to any append of the new claim.
      if (!(await this.holds(item))) throw new LeaseLostError(item);
      const result = await store.appendToStream(streamName, events, append);
      if (options.move) await this.move(item, options.move);
      return result;
    }
    return inTransaction(this.pool, async (client) => {
      await store.lockForAppend(client);
      const { rowCount } = await client.query(
        `SELECT 1 FROM scheduled_work WHERE ${HELD} FOR UPDATE`,
        key(item),
      );
      if (!rowCount) throw new LeaseLostError(item);
      const result = await store.appendWithin(client, streamName, events, append);
      if (options.move) await moveRow(client, item, options.move);
      return result;
    });
  }

  nextDueInMs(): Promise<number | null> {
    return nextDueInMsOf(this.pool, 'report');
  }
}

/** Which rows a claim may take: one queue's, at most `limit`, at most `perTenant` held by one tenant. */
export type ClaimSpec = Readonly<{
  queue: string;
  owner: string;
  limit: number;
  leaseMs: number;
  /** Leased rows one tenant may hold at once (on every instance); unset, no cap. */
  perTenant?: number;
}>;

/**
 * Claims due rows of one queue, fair across tenants, across rounds: a tenant's turn for its n-th due row
 * is n plus the rows it already holds leased (on every instance), and the claim goes in turn order,
 * oldest first within a turn. A worker that frees one slot at a time therefore gives it to the tenant
 * holding the fewest slots — not to the tenant with the oldest row, which during another tenant's burst
 * of 10,000 rows is always the burst (first-come-first-served). With `perTenant`, no tenant's turn goes
 * past it: a tenant whose rows are slow (a dead webhook receiver) cannot fill every slot. The per-tenant
 * candidates come from the (queue, tenant_id, due_at) index, at most `limit` per tenant; leased rows are
 * counted from a partial index. Each claimed row gets a new lease token and one more claim (`retries`).
 */
export const claimDueRows = async <R extends pg.QueryResultRow>(
  pool: pg.Pool,
  spec: ClaimSpec,
): Promise<{ rows: R[]; now: Date }> => {
  const { rows } = await pool.query<R & { db_now: Date }>(
    `WITH tenants AS (
       SELECT DISTINCT tenant_id FROM scheduled_work WHERE queue = $4 AND due_at <= now()
     ), busy AS (
       SELECT tenant_id, count(*) AS leased FROM scheduled_work
       WHERE queue = $4 AND lease_until >= now() GROUP BY tenant_id
     ), ranked AS (
       SELECT c.tenant_id, c.report_id, c.step, c.due_at,
              row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.due_at) + coalesce(b.leased, 0) AS turn
       FROM tenants t LEFT JOIN busy b ON b.tenant_id = t.tenant_id CROSS JOIN LATERAL (
         SELECT s.tenant_id, s.report_id, s.step, s.due_at FROM scheduled_work s
         WHERE s.queue = $4 AND s.tenant_id = t.tenant_id AND s.due_at <= now()
           AND (s.lease_until IS NULL OR s.lease_until < now())
         ORDER BY s.due_at LIMIT $2) c
     ), due AS (
       SELECT w.tenant_id, w.report_id, w.step FROM scheduled_work w
       JOIN ranked r ON r.tenant_id = w.tenant_id AND r.report_id = w.report_id AND r.step = w.step
       WHERE w.due_at <= now() AND (w.lease_until IS NULL OR w.lease_until < now())
         AND ($5::bigint IS NULL OR r.turn <= $5)
       ORDER BY r.turn, r.due_at LIMIT $2 FOR UPDATE OF w SKIP LOCKED
     )
     UPDATE scheduled_work w SET lease_owner = $1, lease_until = now() + ${ms('$3')},
            lease_token = w.lease_token + 1, retries = w.retries + 1
     FROM due
     WHERE w.tenant_id = due.tenant_id AND w.report_id = due.report_id AND w.step = due.step
     RETURNING w.*, now() AS db_now`,
    [spec.owner, spec.limit, spec.leaseMs, spec.queue, spec.perTenant ?? null],
  );
  const now = rows[0]?.db_now ?? (await pool.query<{ now: Date }>('SELECT now() AS now')).rows[0].now;
  return { rows, now };
};

/** Milliseconds until the next row of `queue` falls due (0 when one is due), or null when it has none. */
export const nextDueInMsOf = async (pool: pg.Pool, queue: string): Promise<number | null> => {
  const { rows } = await pool.query<{ wait: number | null }>(
    // greatest() skips NULLs: the empty queue's NULL must not become 0 (a worker polling flat out).
    `SELECT (extract(epoch FROM greatest(now(), min(greatest(due_at, coalesce(lease_until, due_at)))) - now()) * 1000)::float8 AS wait
     FROM scheduled_work WHERE queue = $1 HAVING count(*) > 0`,
    [queue],
  );
  return rows[0]?.wait ?? null;
};

/** Moves the row `item`'s claim holds and releases it; false (no change) when the claim no longer holds it. */
const moveRow = async (db: pg.Pool | pg.ClientBase, item: WorkItem, move: RowMove): Promise<boolean> => {
  const release = `lease_owner = NULL, lease_until = NULL`;
  let result: pg.QueryResult;
  switch (move.to) {
    case 'delete':
      result = await db.query(`DELETE FROM scheduled_work WHERE ${HELD}`, key(item));
      break;
    case 'retry':
      result = await db.query(
        `UPDATE scheduled_work SET due_at = now() + ${ms('$5')}, ${release} WHERE ${HELD}`,
        [...key(item), move.delayMs],
      );
      break;
    case 'poll':
      // The projection may already have moved the row to this attempt (then only the lease is released).
      result = await db.query(
        `UPDATE scheduled_work
           SET kind = 'poll', job_id = coalesce(job_id, $6),
               due_at = CASE WHEN attempt < $5 THEN now() + ${ms('$7')} ELSE due_at END,
               retries = CASE WHEN attempt < $5 THEN 0 ELSE retries END,
               attempt = greatest(attempt, $5), ${release}
           WHERE ${HELD}`,
        [...key(item), move.attempt, move.jobId, move.delayMs],
      );
      break;
  }
  return (result.rowCount ?? 0) > 0;
};
