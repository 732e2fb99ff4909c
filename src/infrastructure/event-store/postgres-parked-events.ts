import type pg from 'pg';
import type { Checkpoint } from '../../application/ports/event-store.port.js';
import type {
  ParkedEvent,
  ParkedEventAction,
  ParkedEvents,
} from '../../application/ports/parked-events.port.js';
import { migrateSchema } from '../postgres/transaction.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS parked_events (
  subscription text NOT NULL,
  event_id uuid NOT NULL,
  tenant_id text,
  stream_name text NOT NULL,
  revision bigint NOT NULL,
  checkpoint text NOT NULL,
  type text NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL,
  parked_at timestamptz NOT NULL,
  PRIMARY KEY (subscription, event_id)
);
CREATE TABLE IF NOT EXISTS parked_event_actions (
  id bigserial PRIMARY KEY,
  subscription text NOT NULL,
  event_id uuid NOT NULL,
  action text NOT NULL,
  actor text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  event jsonb NOT NULL
);
`;

type Row = {
  subscription: string;
  event_id: string;
  tenant_id: string | null;
  stream_name: string;
  revision: string;
  checkpoint: string;
  type: string;
  error: string;
  attempts: number;
  parked_at: Date;
};

/** Parked events in the control database, next to the subscription checkpoints. */
export class PostgresParkedEvents implements ParkedEvents {
  constructor(private readonly pool: pg.Pool) {}

  migrate(): Promise<void> {
    return migrateSchema(this.pool, 'conflux.parked_events', SCHEMA);
  }

  async park(event: ParkedEvent): Promise<void> {
    await this.pool.query(
      `INSERT INTO parked_events (subscription, event_id, tenant_id, stream_name, revision, checkpoint, type, error, attempts, parked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (subscription, event_id) DO UPDATE SET error = EXCLUDED.error,
         attempts = parked_events.attempts + EXCLUDED.attempts, parked_at = EXCLUDED.parked_at`,
      [
        event.subscription,
        event.eventId,
        event.tenantId,
        event.streamName,
        event.revision,
        event.checkpoint,
        event.type,
        event.error,
        event.attempts,
        event.parkedAt,
      ],
    );
  }

  async countBySubscription(): Promise<Readonly<Record<string, number>>> {
    const { rows } = await this.pool.query<{ subscription: string; count: number }>(
      'SELECT subscription, count(*)::int AS count FROM parked_events GROUP BY subscription',
    );
    return Object.fromEntries(rows.map((row) => [row.subscription, row.count]));
  }

  async list(subscription: string, limit = 100): Promise<ParkedEvent[]> {
    const { rows } = await this.pool.query<Row>(
      'SELECT * FROM parked_events WHERE subscription = $1 ORDER BY parked_at, event_id LIMIT $2',
      [subscription, limit],
    );
    return rows.map(toParked);
  }

  async get(subscription: string, eventId: string): Promise<ParkedEvent | null> {
    if (!UUID.test(eventId)) return null;
    const { rows } = await this.pool.query<Row>(
      'SELECT * FROM parked_events WHERE subscription = $1 AND event_id = $2',
      [subscription, eventId],
    );
    return rows[0] ? toParked(rows[0]) : null;
  }

  async resolve(
    subscription: string,
    eventId: string,
    action: ParkedEventAction['action'],
    actor: string,
  ): Promise<boolean> {
    if (!UUID.test(eventId)) return false;
    const { rowCount } = await this.pool.query(
      `WITH resolved AS (
         DELETE FROM parked_events WHERE subscription = $1 AND event_id = $2 RETURNING *
       )
       INSERT INTO parked_event_actions (subscription, event_id, action, actor, event)
       SELECT subscription, event_id, $3, $4, to_jsonb(resolved) FROM resolved`,
      [subscription, eventId, action, actor],
    );
    return rowCount === 1;
  }

  async actions(limit = 100): Promise<ParkedEventAction[]> {
    const { rows } = await this.pool.query<{
      subscription: string;
      event_id: string;
      action: ParkedEventAction['action'];
      actor: string;
      at: Date;
      event: Row & { parked_at: string };
    }>('SELECT * FROM parked_event_actions ORDER BY at DESC, id DESC LIMIT $1', [limit]);
    return rows.map((r) => ({
      subscription: r.subscription,
      eventId: r.event_id,
      action: r.action,
      actor: r.actor,
      at: r.at,
      event: toParked({ ...r.event, parked_at: new Date(r.event.parked_at) }),
    }));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const toParked = (row: Row): ParkedEvent => ({
  subscription: row.subscription,
  tenantId: row.tenant_id,
  eventId: row.event_id,
  streamName: row.stream_name,
  revision: Number(row.revision),
  checkpoint: row.checkpoint as Checkpoint,
  type: row.type,
  error: row.error,
  attempts: row.attempts,
  parkedAt: row.parked_at,
});
