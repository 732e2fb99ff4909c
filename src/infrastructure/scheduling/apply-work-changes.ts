import type pg from 'pg';
import type { WorkChange } from '../../application/ports/scheduled-work.port.js';
import { changeRounds } from './work-change-rounds.js';

type Change<Op extends WorkChange['op']> = Extract<WorkChange, { op: Op }>;

/**
 * Applies a page of work changes with `client` (inside the caller's transaction): round by round
 * (work-change-rounds.ts), one statement per kind of change in each round, the rows travelling as arrays.
 * Each statement is the set form of what a single change does, so the result is that of the changes one
 * by one; a page costs a handful of round trips instead of one per change.
 */
export const applyWorkChanges = async (
  client: pg.ClientBase,
  changes: readonly WorkChange[],
): Promise<void> => {
  for (const round of changeRounds(changes)) {
    const byOp = Map.groupBy(round, (change) => change.op);
    for (const [op, group] of byOp) await STATEMENTS[op](client, group as never);
  }
};

const STATEMENTS: {
  [Op in WorkChange['op']]: (client: pg.ClientBase, changes: Change<Op>[]) => Promise<unknown>;
} = {
  upsert: (client, changes) => {
    const items = changes.map((change) => change.item);
    return client.query(
      `INSERT INTO scheduled_work (tenant_id, report_id, step, kind, attempt, job_id, due_at, deadline_at, payload)
       SELECT c.tenant_id, c.report_id, c.step, c.kind, c.attempt, c.job_id, now(),
              now() + make_interval(secs => c.deadline_ms / 1000), c.payload
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::float8[], $8::jsonb[])
         AS c(tenant_id, report_id, step, kind, attempt, job_id, deadline_ms, payload)
       ON CONFLICT (tenant_id, report_id, step) DO NOTHING`,
      [
        items.map((i) => i.tenantId),
        items.map((i) => i.reportId),
        items.map((i) => i.step),
        items.map((i) => i.kind),
        items.map((i) => i.attempt),
        items.map((i) => i.jobId),
        items.map((i) => i.deadlineInMs),
        items.map((i) =>
          JSON.stringify({ subject: i.subject, period: i.period, traceparent: i.traceparent }),
        ),
      ],
    );
  },
  job: (client, changes) =>
    client.query(
      `UPDATE scheduled_work w SET job_id = c.job_id
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS c(tenant_id, report_id, step, job_id)
       WHERE w.tenant_id = c.tenant_id AND w.report_id = c.report_id AND w.step = c.step AND w.job_id IS NULL`,
      [
        changes.map((c) => c.tenantId),
        changes.map((c) => c.reportId),
        changes.map((c) => c.step),
        changes.map((c) => c.jobId),
      ],
    ),
  // Usually a no-op: the worker moved its row right after the append. It matters when the worker died in
  // between. The row's lease is left alone (a worker may hold it for this very attempt).
  schedule: (client, changes) =>
    client.query(
      `UPDATE scheduled_work w SET kind = 'poll', attempt = c.attempt, due_at = c.due_at, retries = 0
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])
         AS c(tenant_id, report_id, step, attempt, due_at)
       WHERE w.tenant_id = c.tenant_id AND w.report_id = c.report_id AND w.step = c.step AND w.attempt < c.attempt`,
      [
        changes.map((c) => c.tenantId),
        changes.map((c) => c.reportId),
        changes.map((c) => c.step),
        changes.map((c) => c.attempt),
        changes.map((c) => c.dueAt),
      ],
    ),
  delete: (client, changes) =>
    client.query(
      `DELETE FROM scheduled_work w USING unnest($1::text[], $2::text[], $3::text[]) AS c(tenant_id, report_id, step)
       WHERE w.queue = 'report' AND w.tenant_id = c.tenant_id AND w.report_id = c.report_id
         AND (c.step IS NULL OR w.step = c.step)`,
      [changes.map((c) => c.tenantId), changes.map((c) => c.reportId), changes.map((c) => c.step ?? null)],
    ),
  'generate-when-providers-done': (client, changes) =>
    client.query(
      `INSERT INTO scheduled_work (tenant_id, report_id, step, kind, due_at, deadline_at, payload)
       SELECT c.tenant_id, c.report_id, 'generation', 'generate', now(), now() + interval '1 hour', c.payload
       FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS c(tenant_id, report_id, payload)
       WHERE NOT EXISTS (SELECT 1 FROM scheduled_work w
                         WHERE w.queue = 'report' AND w.tenant_id = c.tenant_id AND w.report_id = c.report_id)
       ON CONFLICT DO NOTHING`,
      [
        changes.map((c) => c.tenantId),
        changes.map((c) => c.reportId),
        changes.map((c) => JSON.stringify({ traceparent: c.traceparent })),
      ],
    ),
  'expire-at': (client, changes) =>
    client.query(
      `INSERT INTO scheduled_work (tenant_id, report_id, step, kind, due_at, deadline_at, payload)
       SELECT c.tenant_id, c.report_id, 'retention', 'expire', d.due_at, d.due_at, '{}'::jsonb
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[]) AS c(tenant_id, report_id, due_at, in_ms)
       CROSS JOIN LATERAL (SELECT coalesce(c.due_at, now() + make_interval(secs => c.in_ms / 1000)) AS due_at) d
       ON CONFLICT DO NOTHING`,
      [
        changes.map((c) => c.tenantId),
        changes.map((c) => c.reportId),
        changes.map((c) => ('dueAt' in c ? c.dueAt : null)),
        changes.map((c) => ('inMs' in c ? c.inMs : null)),
      ],
    ),
};
