import type pg from 'pg';
import type { Checkpoint } from '../../application/ports/event-store.port.js';
import type { ScheduledWork, WorkChange, WorkItem } from '../../application/ports/scheduled-work.port.js';
import { inTransaction, migrateSchema } from '../postgres/transaction.js';

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
CREATE INDEX IF NOT EXISTS scheduled_work_due ON scheduled_work (due_at);
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
};

const toItem = (r: Row): WorkItem => ({
  tenantId: r.tenant_id,
  reportId: r.report_id,
  step: r.step,
  kind: r.kind,
  attempt: r.attempt,
  retries: r.retries,
  jobId: r.job_id,
  dueAt: r.due_at,
  deadlineAt: r.deadline_at,
  subject: r.payload.subject,
  period: r.payload.period,
  ...(r.payload.traceparent ? { traceparent: r.payload.traceparent } : {}),
});

/** The scheduled-work table and subscription checkpoints, in the control database. */
export class PostgresScheduledWork implements ScheduledWork {
  constructor(private readonly pool: pg.Pool) {}

  migrate(): Promise<void> {
    return migrateSchema(this.pool, 'conflux.scheduled_work', SCHEMA);
  }

  apply(projection: string, checkpoint: Checkpoint, changes: readonly WorkChange[]): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      for (const change of changes) await this.applyOne(client, change);
      await client.query(
        `INSERT INTO subscription_checkpoints (name, checkpoint) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = now()`,
        [projection, checkpoint],
      );
    });
  }

  private async applyOne(client: pg.PoolClient, change: WorkChange): Promise<void> {
    switch (change.op) {
      case 'upsert': {
        const i = change.item;
        await client.query(
          `INSERT INTO scheduled_work (tenant_id, report_id, step, kind, attempt, retries, job_id, due_at, deadline_at, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (tenant_id, report_id, step) DO NOTHING`,
          [
            i.tenantId,
            i.reportId,
            i.step,
            i.kind,
            i.attempt,
            i.retries,
            i.jobId,
            i.dueAt,
            i.deadlineAt,
            JSON.stringify({ subject: i.subject, period: i.period, traceparent: i.traceparent }),
          ],
        );
        return;
      }
      case 'job':
        await client.query(
          `UPDATE scheduled_work SET job_id = $4 WHERE tenant_id = $1 AND report_id = $2 AND step = $3 AND job_id IS NULL`,
          [change.tenantId, change.reportId, change.step, change.jobId],
        );
        return;
      case 'schedule':
        // A new poll attempt frees the lease: the worker that dispatched it is done with the row.
        await client.query(
          `UPDATE scheduled_work SET kind = 'poll', attempt = $4, due_at = $5, retries = 0,
                  lease_owner = NULL, lease_until = NULL
           WHERE tenant_id = $1 AND report_id = $2 AND step = $3 AND attempt < $4`,
          [change.tenantId, change.reportId, change.step, change.attempt, change.dueAt],
        );
        return;
      case 'delete':
        await client.query(
          `DELETE FROM scheduled_work WHERE tenant_id = $1 AND report_id = $2 AND ($3::text IS NULL OR step = $3)`,
          [change.tenantId, change.reportId, change.step ?? null],
        );
        return;
      case 'generate-when-providers-done':
        await client.query(
          `INSERT INTO scheduled_work (tenant_id, report_id, step, kind, due_at, deadline_at, payload)
           SELECT $1, $2, 'generation', 'generate', $3, $3::timestamptz + interval '1 hour', '{}'::jsonb
           WHERE NOT EXISTS (SELECT 1 FROM scheduled_work WHERE tenant_id = $1 AND report_id = $2)
           ON CONFLICT DO NOTHING`,
          [change.tenantId, change.reportId, change.dueAt],
        );
        return;
    }
  }

  async checkpoint(projection: string): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query<{ checkpoint: Checkpoint }>(
      'SELECT checkpoint FROM subscription_checkpoints WHERE name = $1',
      [projection],
    );
    return rows[0]?.checkpoint;
  }

  async claimDue(owner: string, limit: number, leaseMs: number): Promise<WorkItem[]> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE scheduled_work w SET lease_owner = $1, lease_until = now() + make_interval(secs => $3::double precision / 1000)
       FROM (SELECT tenant_id, report_id, step FROM scheduled_work
             WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())
             ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
       WHERE w.tenant_id = due.tenant_id AND w.report_id = due.report_id AND w.step = due.step
       RETURNING w.*`,
      [owner, limit, leaseMs],
    );
    return rows.map(toItem);
  }

  async renewLease(owner: string, items: readonly WorkItem[], leaseMs: number): Promise<void> {
    for (const i of items) {
      await this.pool.query(
        `UPDATE scheduled_work SET lease_until = now() + make_interval(secs => $5::double precision / 1000)
         WHERE tenant_id = $1 AND report_id = $2 AND step = $3 AND lease_owner = $4`,
        [i.tenantId, i.reportId, i.step, owner, leaseMs],
      );
    }
  }

  async retryLater(owner: string, item: WorkItem, dueAt: Date): Promise<void> {
    await this.pool.query(
      `UPDATE scheduled_work SET due_at = $5, retries = retries + 1, lease_owner = NULL, lease_until = NULL
       WHERE tenant_id = $1 AND report_id = $2 AND step = $3 AND lease_owner = $4`,
      [item.tenantId, item.reportId, item.step, owner, dueAt],
    );
  }

  async nextDueAt(): Promise<Date | null> {
    const { rows } = await this.pool.query<{ due: Date | null }>(
      `SELECT min(greatest(due_at, coalesce(lease_until, due_at))) AS due FROM scheduled_work`,
    );
    return rows[0]?.due ?? null;
  }
}
