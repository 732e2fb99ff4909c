import type pg from 'pg';
import type { ScheduledWorkCount } from '../observability/prometheus-metrics.js';

/** A due row no worker claimed for this long counts as overdue: the workers are behind. */
export const OVERDUE_AFTER_SECONDS = 60;

/**
 * Scheduled-work rows per tenant by state, on the database clock: `due` (due, not leased), `claimed`
 * (lease held), `overdue` (due for over OVERDUE_AFTER_SECONDS, not leased). One scan of the control
 * database's table (its rows are the pending steps only, so it stays small).
 */
export const countScheduledWork = async (pool: pg.Pool): Promise<ScheduledWorkCount[]> => {
  const { rows } = await pool.query<{ tenant_id: string; due: string; claimed: string; overdue: string }>(
    `SELECT tenant_id,
            count(*) FILTER (WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())) AS due,
            count(*) FILTER (WHERE lease_until >= now()) AS claimed,
            count(*) FILTER (WHERE due_at <= now() - make_interval(secs => $1)
                               AND (lease_until IS NULL OR lease_until < now())) AS overdue
       FROM scheduled_work GROUP BY tenant_id`,
    [OVERDUE_AFTER_SECONDS],
  );
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    due: Number(r.due),
    claimed: Number(r.claimed),
    overdue: Number(r.overdue),
  }));
};
