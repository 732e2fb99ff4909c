import type pg from 'pg';
import {
  categoryOf,
  WrongExpectedVersionError,
  type AppendResult,
  type ExpectedRevision,
  type NewEvent,
} from '../../application/ports/event-store.port.js';
import { APPEND_LOCK, TAKE_APPEND_LOCK } from './horizon.js';
import {
  assertCount,
  encodeCheckpoint,
  eventRows,
  isUniqueViolation,
  Params,
  STREAM_NAME_CONSTRAINT,
  STREAM_REVISION_CONSTRAINT,
} from './sql.js';

/**
 * The statement that moves the stream's revision on by `count` and returns the new one, or returns no
 * row when the expectation fails. Row locks serialise concurrent appenders: a waiting UPDATE re-checks
 * its WHERE against the winner's row, and a waiting INSERT … ON CONFLICT sees the winner's insert.
 *
 * Every form reads its row from `append_lock`, so the append lock is held before the first write gives
 * the transaction its id (horizon.ts): an INSERT needs its source row, an UPDATE its joined row.
 */
const claimRevisions = (
  expected: ExpectedRevision,
  stream: string,
  count: string,
  params: Params,
): string => {
  switch (expected) {
    case 'any':
      return `INSERT INTO streams AS s (stream_name, revision) SELECT ${stream}, ${count} - 1 FROM append_lock
              ON CONFLICT (stream_name) DO UPDATE SET revision = s.revision + ${count} RETURNING revision`;
    case 'no_stream':
      return `INSERT INTO streams (stream_name, revision) SELECT ${stream}, ${count} - 1 FROM append_lock
              ON CONFLICT (stream_name) DO NOTHING RETURNING revision`;
    case 'stream_exists':
      return `UPDATE streams SET revision = revision + ${count} FROM append_lock
              WHERE stream_name = ${stream} RETURNING revision`;
    default:
      return `UPDATE streams SET revision = revision + ${count} FROM append_lock
              WHERE stream_name = ${stream} AND revision = ${params.add(expected, 'bigint')} RETURNING revision`;
  }
};

const currentRevision = async (
  db: pg.Pool | pg.ClientBase,
  streamName: string,
): Promise<number | 'no_stream'> => {
  const { rows } = await db.query<{ revision: string }>(
    'SELECT revision::text FROM streams WHERE stream_name = $1',
    [streamName],
  );
  return rows[0] ? Number(rows[0].revision) : 'no_stream';
};

/**
 * Appends `events` in one statement (append lock, stream revision check and event rows together); with
 * `notifyChannel`, the statement also sends the wake-up, delivered at its transaction's commit.
 * Rejects with WrongExpectedVersionError, having written nothing, when `expected` does not hold.
 */
export const appendEvents = async (
  db: pg.Pool | pg.ClientBase,
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  notifyChannel: string | undefined,
): Promise<AppendResult> => {
  if (events.length === 0) throw new RangeError(`Append to ${streamName}: no events`);
  if (typeof expected === 'number') assertCount(expected, 'expectedRevision');
  const params = new Params();
  const stream = params.add(streamName, 'text');
  const count = params.add(events.length, 'bigint');
  const claim = claimRevisions(expected, stream, count, params);
  const notify = notifyChannel ? `, (SELECT pg_notify('${notifyChannel}', '')) AS notified` : '';
  // A function in FROM must run to produce the CTE's one row, so the lock cannot be planned away.
  const sql = `
    WITH append_lock AS MATERIALIZED (SELECT 1 AS locked FROM ${TAKE_APPEND_LOCK}),
    stream AS (${claim}),
    appended AS (
      INSERT INTO events (stream_name, revision, id, type, data, metadata, tenant_id, category)
      SELECT ${stream}, stream.revision - ${count} + e.ord, e.id, e.type, COALESCE(e.data, 'null'), e.metadata,
             e.metadata->>'tenantId', ${params.add(categoryOf(streamName), 'text')}
      FROM stream, ${eventRows(events, params)}
      ORDER BY e.ord
      RETURNING transaction_id, position, revision
    )
    SELECT transaction_id::text AS tx, position::text AS pos, revision::text AS revision${notify}
    FROM appended ORDER BY appended.revision DESC LIMIT 1`;
  let rows: { tx: string; pos: string; revision: string }[];
  try {
    ({ rows } = await db.query<{ tx: string; pos: string; revision: string }>(sql, params.values));
  } catch (error) {
    // The streams table makes this unreachable unless rows were written around it; a loser all the same.
    if (isUniqueViolation(error, [STREAM_REVISION_CONSTRAINT, STREAM_NAME_CONSTRAINT]))
      throw new WrongExpectedVersionError(streamName, expected, await currentRevision(db, streamName));
    throw error;
  }
  const last = rows[0];
  if (!last) throw new WrongExpectedVersionError(streamName, expected, await currentRevision(db, streamName));
  return { nextExpectedRevision: Number(last.revision), checkpoint: encodeCheckpoint(last) };
};

/** Thrown by `appendWithin` when its transaction wrote before it took the append lock. */
export class AppendLockTooLateError extends Error {
  constructor() {
    super(
      'appendWithin: this transaction already wrote before taking the append lock, so readers may have passed ' +
        'its id; call lockForAppend(client) right after BEGIN, before any write',
    );
    this.name = 'AppendLockTooLateError';
  }
}

/**
 * Takes the append lock in the caller's transaction, first checking that the transaction has no id yet
 * or already holds the lock: a transaction that got its id without the lock may have been passed by a
 * reader (horizon.ts), so its events could be skipped.
 */
export const lockForAppend = async (client: pg.ClientBase): Promise<void> => {
  const { rows } = await client.query<{ has_xid: boolean; locked: boolean }>(
    `SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS has_xid,
            EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                    AND classid = $1 AND objid = $2 AND objsubid = 2) AS locked`,
    [APPEND_LOCK.classId, APPEND_LOCK.objId],
  );
  if (rows[0].has_xid && !rows[0].locked) throw new AppendLockTooLateError();
  if (!rows[0].locked) await client.query(`SELECT ${TAKE_APPEND_LOCK}`);
};
