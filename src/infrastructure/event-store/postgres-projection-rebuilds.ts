import type pg from 'pg';
import {
  RebuildAlreadyRunning,
  type ProjectionRebuild,
  type ProjectionRebuilds,
} from '../../application/ports/projection-rebuilds.port.js';
import { migrateSchema } from '../postgres/transaction.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS projection_rebuilds (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  tenant_id text NOT NULL,
  status text NOT NULL,
  events_applied bigint NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  error text
);
CREATE UNIQUE INDEX IF NOT EXISTS projection_rebuilds_one_running
  ON projection_rebuilds (name, tenant_id) WHERE status = 'running';
`;

type Row = {
  id: string;
  name: string;
  tenant_id: string;
  status: ProjectionRebuild['status'];
  events_applied: string;
  started_at: Date;
  updated_at: Date;
  finished_at: Date | null;
  error: string | null;
};

const toRebuild = (r: Row): ProjectionRebuild => ({
  id: r.id,
  name: r.name,
  tenantId: r.tenant_id,
  status: r.status,
  eventsApplied: Number(r.events_applied),
  startedAt: r.started_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
  error: r.error,
});

/** Projection rebuilds in the control database; at most one running per projection and tenant (an index). */
export class PostgresProjectionRebuilds implements ProjectionRebuilds {
  constructor(private readonly pool: pg.Pool) {}

  migrate(): Promise<void> {
    return migrateSchema(this.pool, 'conflux.projection_rebuilds', SCHEMA);
  }

  async create(
    rebuild: Readonly<{ id: string; name: string; tenantId: string }>,
  ): Promise<ProjectionRebuild> {
    const { rows } = await this.pool.query<Row>(
      `INSERT INTO projection_rebuilds (id, name, tenant_id, status) VALUES ($1, $2, $3, 'running')
       ON CONFLICT (name, tenant_id) WHERE status = 'running' DO NOTHING RETURNING *`,
      [rebuild.id, rebuild.name, rebuild.tenantId],
    );
    if (rows[0]) return toRebuild(rows[0]);
    const running = await this.pool.query<{ id: string }>(
      `SELECT id FROM projection_rebuilds WHERE name = $1 AND tenant_id = $2 AND status = 'running'`,
      [rebuild.name, rebuild.tenantId],
    );
    throw new RebuildAlreadyRunning(rebuild.name, rebuild.tenantId, running.rows[0]?.id ?? 'unknown');
  }

  async get(id: string): Promise<ProjectionRebuild | null> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM projection_rebuilds WHERE id = $1', [id]);
    return rows[0] ? toRebuild(rows[0]) : null;
  }

  async running(): Promise<ProjectionRebuild[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM projection_rebuilds WHERE status = 'running' ORDER BY started_at`,
    );
    return rows.map(toRebuild);
  }

  async progress(id: string, applied: number): Promise<void> {
    await this.pool.query(
      `UPDATE projection_rebuilds SET events_applied = events_applied + $2, updated_at = now() WHERE id = $1`,
      [id, applied],
    );
  }

  async finish(
    id: string,
    outcome: Readonly<{ status: 'completed' } | { status: 'failed'; error: string }>,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE projection_rebuilds SET status = $2, error = $3, finished_at = now(), updated_at = now()
       WHERE id = $1 AND status = 'running'`,
      [id, outcome.status, outcome.status === 'failed' ? outcome.error : null],
    );
  }
}
