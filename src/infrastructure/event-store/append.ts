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
  STREAM_REVISION_CONSTRAINT,
} from './sql.js';

/** The last event an append wrote: its checkpoint and the stream's revision after it. */
type AppendedRow = { tx: string; pos: string; revision: string };

/** True once the append lock is held: the INSERT checks it before its first row gives the transaction an id. */
const APPEND_LOCK_HELD = `(SELECT true FROM ${TAKE_APPEND_LOCK})`;

/**
 * When an append may follow `last` (the stream's highest revision, NULL before its first event), and the
 * revision its first event follows (ADR 0026).
 */
const expectation = (
  expected: ExpectedRevision,
  last: string,
  params: Params,
): { holds: string[]; after: string } => {
  switch (expected) {
    case 'any':
      return { holds: [], after: `COALESCE(${last}, -1)` };
    case 'no_stream':
      return { holds: [`${last} IS NULL`], after: '-1' };
    case 'stream_exists':
      return { holds: [`${last} IS NOT NULL`], after: last };
    default: {
      const revision = params.add(expected, 'bigint');
      return { holds: [`${last} = ${revision}`], after: revision };
    }
  }
};

// Appends of up to this many events run as named (prepared) statements, each parsed and planned once per
// connection: parsing and planning the append cost PostgreSQL more than executing it (ADR 0026). Larger
// batches pay that once for many events; the bound keeps the statements per connection few (4 × 8).
const PREPARED_MAX_EVENTS = 8;

/**
 * The append statement (ADR 0026): one INSERT of the events after the stream's last revision, read from
 * the (stream_name, revision) index in the same statement, or of nothing when the expectation does not
 * hold. The same unique index settles a race the statement's snapshot cannot see: when a concurrent
 * append takes the same revisions first, this INSERT waits for it and fails with a unique violation.
 */
const appendStatement = (
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
): pg.QueryConfig => {
  const params = new Params();
  const stream = params.add(streamName, 'text');
  const category = params.add(categoryOf(streamName), 'text');
  const last = `(SELECT max(revision) FROM events WHERE stream_name = ${stream})`;
  const { holds, after } = expectation(expected, last, params);
  const text = `INSERT INTO events (stream_name, revision, id, type, data, metadata, tenant_id, category)
    SELECT ${stream}, ${after} + e.ord, e.id, e.type, COALESCE(e.data, 'null'), e.metadata,
           e.metadata->>'tenantId', ${category}
    FROM ${eventRows(events, params)}
    WHERE ${[APPEND_LOCK_HELD, ...holds].join(' AND ')}
    ORDER BY e.ord
    RETURNING transaction_id::text AS tx, position::text AS pos, revision::text AS revision`;
  if (events.length > PREPARED_MAX_EVENTS) return { text, values: params.values };
  // The text follows from the kind of expectation and the number of events alone.
  const kind = typeof expected === 'number' ? 'revision' : expected;
  return { name: `conflux_append_${kind}_${events.length}`, text, values: params.values };
};

const currentRevision = async (
  db: pg.Pool | pg.ClientBase,
  streamName: string,
): Promise<number | 'no_stream'> => {
  const { rows } = await db.query<{ revision: string | null }>(
    'SELECT max(revision)::text AS revision FROM events WHERE stream_name = $1',
    [streamName],
  );
  return rows[0].revision === null ? 'no_stream' : Number(rows[0].revision);
};

// Each lost race means another append to the stream committed meanwhile, so retries end; the bound is for a
// caller's REPEATABLE READ transaction, whose snapshot never sees the winner.
const MAX_ATTEMPTS = 100;

/**
 * Runs the append statement with `run` until it holds or cannot. An append that lost a race (unique
 * violation: another one took its revisions after this statement's snapshot) is tried again when it
 * expects no particular revision (`any`, `stream_exists`: the next statement sees the winner), and is a
 * WrongExpectedVersionError otherwise.
 */
const appendWith = async (
  db: pg.Pool | pg.ClientBase,
  run: (statement: pg.QueryConfig) => Promise<AppendedRow[]>,
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
): Promise<AppendResult> => {
  if (events.length === 0) throw new RangeError(`Append to ${streamName}: no events`);
  if (typeof expected === 'number') assertCount(expected, 'expectedRevision');
  const statement = appendStatement(streamName, events, expected);
  for (let attempt = 1; ; attempt++) {
    let last: AppendedRow | undefined;
    try {
      last = (await run(statement)).at(-1);
    } catch (error) {
      if (!isUniqueViolation(error, [STREAM_REVISION_CONSTRAINT])) throw error;
      if ((expected === 'any' || expected === 'stream_exists') && attempt < MAX_ATTEMPTS) continue;
    }
    if (!last)
      throw new WrongExpectedVersionError(streamName, expected, await currentRevision(db, streamName));
    return { nextExpectedRevision: Number(last.revision), checkpoint: encodeCheckpoint(last) };
  }
};

/**
 * Appends `events` in one statement of its own (append lock, revision check and event rows together).
 * Rejects with WrongExpectedVersionError, having written nothing, when `expected` does not hold.
 */
export const appendEvents = (
  pool: pg.Pool,
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
): Promise<AppendResult> =>
  appendWith(
    pool,
    async (statement) => (await pool.query<AppendedRow>(statement)).rows,
    streamName,
    events,
    expected,
  );

const SAVEPOINT = 'conflux_append';

/**
 * The same append in the caller's transaction on `client`, which must hold the append lock already
 * (lockForAppend). With `notifyChannel`, it also sends the wake-up, delivered at the caller's commit.
 * Each attempt runs under a savepoint: a lost race rolls back to it, so a rejection leaves the caller's
 * transaction usable, with nothing of the append written.
 */
export const appendEventsWithin = (
  client: pg.ClientBase,
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
  notifyChannel: string | undefined,
): Promise<AppendResult> =>
  appendWith(
    client,
    async (statement) => {
      await client.query(`SAVEPOINT ${SAVEPOINT}`);
      let rows: AppendedRow[];
      try {
        ({ rows } = await client.query<AppendedRow>(statement));
      } catch (error) {
        // A broken connection fails this too; the caller then gets the append's own error.
        await client
          .query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}; RELEASE SAVEPOINT ${SAVEPOINT}`)
          .catch(() => undefined);
        throw error;
      }
      const notify = notifyChannel && rows.length > 0 ? `; SELECT pg_notify('${notifyChannel}', '')` : '';
      await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}${notify}`);
      return rows;
    },
    streamName,
    events,
    expected,
  );

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
