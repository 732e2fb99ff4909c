import type pg from 'pg';
import type {
  LogFilter,
  ReadStreamOptions,
  RecordedEvent,
} from '../../application/ports/event-store.port.js';
import { HORIZON_CTES, VISIBLE } from './horizon.js';
import {
  assertCount,
  EVENT_COLUMNS,
  filterClauses,
  Params,
  toRecordedEvent,
  type Cursor,
  type EventRow,
  type Nullable,
} from './sql.js';

/** Reads of one stream: revisions are final once written, so no horizon applies. */
export const readStream = async (
  pool: pg.Pool,
  streamName: string,
  options: ReadStreamOptions = {},
): Promise<RecordedEvent[]> => {
  assertCount(options.fromRevision, 'fromRevision');
  assertCount(options.maxCount, 'maxCount');
  const backwards = options.direction === 'backwards';
  const params = new Params();
  const where = [`stream_name = ${params.add(streamName, 'text')}`];
  if (options.fromRevision !== undefined)
    where.push(`revision ${backwards ? '<=' : '>='} ${params.add(options.fromRevision, 'bigint')}`);
  const limit = options.maxCount === undefined ? '' : `LIMIT ${params.add(options.maxCount, 'bigint')}`;
  const { rows } = await pool.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')}
     ORDER BY events.revision ${backwards ? 'DESC' : 'ASC'} ${limit}`,
    params.values,
  );
  return rows.map(toRecordedEvent);
};

/**
 * One page of the global log after `after`, in (transaction id, position) order, below the horizon
 * (horizon.ts). With `trackHorizon`, a short page also reports how far the log is final (the last visible
 * event, matching or not), so a filtered subscription moves past events it does not want instead of
 * scanning them again on every wake-up. One statement, so everything shares one snapshot.
 */
export const readPage = async (
  pool: pg.Pool,
  after: Cursor | undefined,
  filter: LogFilter | undefined,
  limit: number | undefined,
  trackHorizon: boolean,
): Promise<{ rows: EventRow[]; next: Cursor | undefined }> => {
  const params = new Params();
  const matching = filterClauses(filter, params);
  const scanned = [VISIBLE];
  if (after)
    scanned.push(
      `(transaction_id, position) > (${params.add(after.tx, 'xid8')}, ${params.add(after.pos, 'bigint')})`,
    );
  const page = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${[...scanned, ...matching].join(' AND ')}
    ORDER BY transaction_id, position ${limit === undefined ? '' : `LIMIT ${params.add(limit, 'bigint')}`}`;
  if (!trackHorizon || matching.length === 0) {
    const { rows } = await pool.query<EventRow>(`WITH ${HORIZON_CTES} ${page}`, params.values);
    const last = rows.at(-1);
    return { rows, next: last ? { tx: last.tx, pos: last.pos } : after };
  }
  const { rows } = await pool.query<Nullable<EventRow> & { horizon_tx: string; horizon_pos: string }>(
    `WITH ${HORIZON_CTES}
     SELECT h.horizon_tx, h.horizon_pos, p.*
     FROM (SELECT transaction_id::text AS horizon_tx, position::text AS horizon_pos FROM events
           WHERE ${scanned.join(' AND ')} ORDER BY transaction_id DESC, position DESC LIMIT 1) h
     LEFT JOIN LATERAL (${page}) p ON true
     ORDER BY p.tx::xid8, p.pos::bigint`,
    params.values,
  );
  const horizon = rows[0];
  if (!horizon) return { rows: [], next: after };
  const events = rows.filter((row): row is typeof row & EventRow => row.tx !== null);
  const last = events.at(-1);
  if (last && limit !== undefined && events.length >= limit)
    return { rows: events, next: { tx: last.tx, pos: last.pos } };
  return { rows: events, next: { tx: horizon.horizon_tx, pos: horizon.horizon_pos } };
};
