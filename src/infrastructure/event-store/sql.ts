import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type {
  Checkpoint,
  EventMetadata,
  LogFilter,
  NewEvent,
  RecordedEvent,
} from '../../application/ports/event-store.port.js';

/** The schema, row shapes and SQL helpers shared by the reads, the appends and the subscriptions. */

export const STREAM_REVISION_CONSTRAINT = 'events_stream_name_revision_key';

/** The advisory lock name the schema's migration runs under; a re-base takes it too. */
export const EVENT_STORE_MIGRATION_LOCK = 'conflux.event_store';

// Databases created before ADR 0026 also have a `streams` table, no longer read or written.
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position bigserial PRIMARY KEY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream_name text NOT NULL,
  revision bigint NOT NULL,
  id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  tenant_id text,
  category text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ${STREAM_REVISION_CONSTRAINT} UNIQUE (stream_name, revision)
);
CREATE INDEX IF NOT EXISTS events_transaction_id_position_idx ON events (transaction_id, position);
CREATE TABLE IF NOT EXISTS event_log_identity (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  system_identifier text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
`;

export type Nullable<T> = { [K in keyof T]: T[K] | null };

export type Cursor = Readonly<{ tx: string; pos: string }>;

export type EventRow = {
  tx: string;
  pos: string;
  stream_name: string;
  revision: string;
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  created_at: Date;
};

export const EVENT_COLUMNS = `transaction_id::text AS tx, position::text AS pos, stream_name, revision::text AS revision,
  id::text AS id, type, data, metadata, created_at`;

export const encodeCheckpoint = (cursor: Cursor): Checkpoint => `${cursor.tx}:${cursor.pos}` as Checkpoint;

export const decodeCheckpoint = (checkpoint: Checkpoint): Cursor => {
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(checkpoint);
  if (!match) throw new TypeError(`Not a PostgreSQL event store checkpoint: ${JSON.stringify(checkpoint)}`);
  return { tx: match[1], pos: match[2] };
};

export const toRecordedEvent = (row: EventRow): RecordedEvent => ({
  id: row.id,
  streamName: row.stream_name,
  revision: Number(row.revision),
  type: row.type,
  data: row.data,
  metadata: row.metadata,
  checkpoint: encodeCheckpoint({ tx: row.tx, pos: row.pos }),
  createdAt: row.created_at,
});

export const assertCount = (value: number | undefined, name: string): void => {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0))
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
};

/** Builds positional parameters next to the SQL that uses them, so optional clauses stay in step. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

export const filterClauses = (filter: LogFilter | undefined, params: Params): string[] => {
  const clauses: string[] = [];
  if (filter?.categories) clauses.push(`category = ANY(${params.add(filter.categories, 'text[]')})`);
  if (filter?.tenantId !== undefined) clauses.push(`tenant_id = ${params.add(filter.tenantId, 'text')}`);
  if (filter?.eventTypes) clauses.push(`type = ANY(${params.add(filter.eventTypes, 'text[]')})`);
  return clauses;
};

// Inline parameters per event are cheaper to plan and parse than one JSON document, but a statement has at
// most 65535 parameters, so larger batches travel as a single jsonb array.
const MAX_INLINE_EVENTS = 100;

/** A FROM item `e(id, type, data, metadata, ord)` with the events to append, in order. */
export const eventRows = (events: readonly NewEvent[], params: Params): string => {
  const rows = events.map((event) => ({
    id: event.id ?? randomUUID(),
    type: event.type,
    data: event.data ?? null,
    metadata: event.metadata,
  }));
  if (rows.length > MAX_INLINE_EVENTS)
    return `ROWS FROM (jsonb_to_recordset(${params.add(JSON.stringify(rows), 'jsonb')})
              AS (id uuid, type text, data jsonb, metadata jsonb)) WITH ORDINALITY AS e(id, type, data, metadata, ord)`;
  const values = rows.map(
    (row, i) =>
      `(${params.add(row.id, 'uuid')}, ${params.add(row.type, 'text')}, ${params.add(JSON.stringify(row.data), 'jsonb')}, ${params.add(JSON.stringify(row.metadata), 'jsonb')}, ${i + 1})`,
  );
  return `(VALUES ${values.join(', ')}) AS e(id, type, data, metadata, ord)`;
};

export const isUniqueViolation = (error: unknown, constraints: readonly string[]): boolean =>
  error instanceof pg.DatabaseError &&
  error.code === '23505' &&
  error.constraint !== undefined &&
  constraints.includes(error.constraint);
