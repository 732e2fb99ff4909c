import type pg from 'pg';
import { inTransaction, migrateSchema } from '../postgres/transaction.js';
import { judgeLogIdentity, readLogIdentity, recordLogIdentity, UNRECORDED_IDENTITY } from './log-identity.js';
import { EVENT_STORE_MIGRATION_LOCK, SCHEMA } from './sql.js';

/**
 * Re-basing the log onto the cluster it was restored into (ADR 0024).
 *
 * Old transaction ids are replaced by small ones (from {@link FIRST_NEW_TX}), below every id the cluster
 * will assign, in the same order. Consecutive old transactions share a new id while their positions keep
 * rising (a "segment"): within one, position order is (old id, position) order, so (new id, position)
 * sorts every event exactly as before, and the log needs as many ids as it has segments — one when
 * commits never overtook each other — rather than one per transaction. Positions do not change.
 *
 * A checkpoint (T, P) maps to the new cursor of the last event at or before it: with m the old
 * transaction with the greatest id ≤ T, (new(m), P clamped to [first(m) − 1, last(m)]) if m = T, else
 * (new(m), last(m)); `0:0` when no event precedes it. The set of events after it is unchanged.
 *
 * The map (one row per old transaction) stays in the control database, keyed by the identity re-based
 * from, so tenant databases — possibly on other clusters, possibly unreachable during the re-base — map
 * their projection checkpoints when next opened (tenancy/tenant-log-alignment.ts).
 */

/** Old transaction ids map to this and up (3 is PostgreSQL's first normal transaction id). */
const FIRST_NEW_TX = 3;

const REBASE_SCHEMA = `
CREATE TABLE IF NOT EXISTS event_log_rebases (
  from_identity text PRIMARY KEY,
  to_identity text NOT NULL,
  transactions bigint NOT NULL,
  segments bigint NOT NULL,
  rebased_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS event_log_rebase_map (
  from_identity text NOT NULL,
  old_tx xid8 NOT NULL,
  new_tx xid8 NOT NULL,
  first_pos bigint NOT NULL,
  last_pos bigint NOT NULL,
  PRIMARY KEY (from_identity, old_tx)
);`;

/** One row per old transaction with its segment number (1, 2, …), in log order. */
const SEGMENTS = `
  SELECT old_tx, first_pos, last_pos, 1 + sum(descent) OVER (ORDER BY old_tx) AS segment
  FROM (SELECT old_tx, first_pos, last_pos,
               CASE WHEN first_pos < lag(last_pos) OVER (ORDER BY old_tx) THEN 1 ELSE 0 END AS descent
        FROM (SELECT transaction_id AS old_tx, min(position) AS first_pos, max(position) AS last_pos
              FROM events GROUP BY transaction_id) AS txs) AS marked`;

/** SQL mapping the checkpoint text `c` through the map re-based from identity `from` (see above). */
const mapped = (c: string, from: string): string => `(
  SELECT CASE WHEN m.old_tx IS NULL THEN '0:0'
              WHEN m.old_tx = split_part(${c}, ':', 1)::xid8
                THEN m.new_tx::text || ':' || least(greatest(split_part(${c}, ':', 2)::bigint, m.first_pos - 1), m.last_pos)
              ELSE m.new_tx::text || ':' || m.last_pos END
  FROM (SELECT 1) AS one LEFT JOIN LATERAL (
    SELECT * FROM event_log_rebase_map r
    WHERE r.from_identity = ${from} AND r.old_tx <= split_part(${c}, ':', 1)::xid8
    ORDER BY r.old_tx DESC LIMIT 1) AS m ON true)`;

/**
 * Every column of the control database that holds a PostgreSQL Checkpoint: the subscriptions'
 * checkpoints (scheduling, webhooks), the delivering subscriptions' (messaging), parked events and the
 * parked events acted on (their recorded copy). Tables a deployment never created are skipped.
 */
const CONTROL_CHECKPOINTS: readonly Readonly<{
  table: string;
  set: (from: string) => string;
  where?: string;
}>[] = [
  { table: 'subscription_checkpoints', set: (from) => `checkpoint = ${mapped('checkpoint', from)}` },
  { table: 'delivery_checkpoints', set: (from) => `checkpoint = ${mapped('checkpoint', from)}` },
  { table: 'parked_events', set: (from) => `checkpoint = ${mapped('checkpoint', from)}` },
  {
    table: 'parked_event_actions',
    set: (from) =>
      `event = jsonb_set(event, '{checkpoint}', to_jsonb(${mapped(`event->>'checkpoint'`, from)}))`,
    where: `event ? 'checkpoint'`,
  },
];

/** The control database's tables holding checkpoints, for the test that no new one is forgotten. */
export const REBASED_CHECKPOINT_TABLES = CONTROL_CHECKPOINTS.map((c) => c.table);

export type RebaseResult = Readonly<
  | { outcome: 'unchanged'; identity: string }
  | { outcome: 'recorded'; identity: string }
  | {
      outcome: 'rebased';
      from: string;
      to: string;
      events: number;
      transactions: number;
      segments: number;
      /** Rows whose checkpoint was mapped, by table. */
      checkpoints: Readonly<Record<string, number>>;
      /** Transaction ids consumed first so that every new id lies below the cluster's next one. */
      burned: number;
    }
>;

/** Thrown inside the re-base transaction when the cluster has not yet assigned enough ids. */
class TooFewTransactionIds extends Error {
  constructor(readonly needed: number) {
    super(`the cluster must assign ${needed} more transaction ids first`);
  }
}

/**
 * Re-bases the log in the database of `pool` (the control database) onto the cluster it is in, if its
 * recorded identity is another's: rewrites the events' transaction ids, maps every checkpoint of the
 * control database, keeps the map for the tenant databases and records the new identity — all in one
 * transaction, under the schema migration's lock and an exclusive lock on the events (appends wait;
 * Conflux should be stopped). Idempotent: a log already this cluster's is left as it is ('unchanged'), so
 * re-running after a crash or a success is safe.
 */
export const rebaseEventLog = async (pool: pg.Pool): Promise<RebaseResult> => {
  await migrateSchema(pool, 'conflux.event_log_rebase', REBASE_SCHEMA);
  let burned = 0;
  for (;;) {
    try {
      const result = await inTransaction(pool, (client) => rebaseOnce(client));
      return result.outcome === 'rebased' ? { ...result, burned } : result;
    } catch (error) {
      if (!(error instanceof TooFewTransactionIds) || burned > 0) throw error;
      await burnTransactionIds(pool, error.needed);
      burned = error.needed;
    }
  }
};

const rebaseOnce = async (client: pg.PoolClient): Promise<RebaseResult> => {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [EVENT_STORE_MIGRATION_LOCK]);
  await client.query(`SET LOCAL client_min_messages = warning; ${SCHEMA}`);
  await client.query('LOCK TABLE events IN EXCLUSIVE MODE');
  const state = await readLogIdentity(client);
  const verdict = judgeLogIdentity(state.recorded, state.current, state.futureEvents);
  if (verdict === 'same') return { outcome: 'unchanged', identity: state.current };
  if (verdict === 'record') {
    await recordLogIdentity(client, state.current);
    return { outcome: 'recorded', identity: state.current };
  }
  const from = state.recorded ?? UNRECORDED_IDENTITY;

  const { rows: plan } = await client.query<{ transactions: string; segments: string; next: string }>(
    `SELECT count(*)::text AS transactions, COALESCE(max(segment), 0)::text AS segments,
            pg_snapshot_xmax(pg_current_snapshot())::text AS next
     FROM (${SEGMENTS}) AS s`,
  );
  const segments = Number(plan[0].segments);
  const highest = FIRST_NEW_TX + segments - 1;
  // Every new id must stay below every id the cluster assigns from now on, this transaction's included.
  if (BigInt(plan[0].next) <= BigInt(highest) + 1n)
    throw new TooFewTransactionIds(highest + 2 - Number(plan[0].next));

  await client.query('DELETE FROM event_log_rebase_map WHERE from_identity = $1', [from]);
  await client.query(
    `INSERT INTO event_log_rebase_map (from_identity, old_tx, new_tx, first_pos, last_pos)
     SELECT $1, old_tx, (segment + ${FIRST_NEW_TX - 1})::text::xid8, first_pos, last_pos FROM (${SEGMENTS}) AS s`,
    [from],
  );
  const { rowCount: events } = await client.query(
    `UPDATE events SET transaction_id = m.new_tx FROM event_log_rebase_map m
     WHERE m.from_identity = $1 AND events.transaction_id = m.old_tx`,
    [from],
  );
  const checkpoints: Record<string, number> = {};
  for (const { table, set, where } of CONTROL_CHECKPOINTS) {
    const { rows } = await client.query<{ present: boolean }>(
      'SELECT to_regclass($1) IS NOT NULL AS present',
      [table],
    );
    if (!rows[0].present) continue;
    const { rowCount } = await client.query(
      `UPDATE ${table} SET ${set('$1')} ${where ? `WHERE ${where}` : ''}`,
      [from],
    );
    checkpoints[table] = rowCount ?? 0;
  }
  await client.query(
    `INSERT INTO event_log_rebases (from_identity, to_identity, transactions, segments) VALUES ($1, $2, $3, $4)
     ON CONFLICT (from_identity) DO UPDATE SET to_identity = EXCLUDED.to_identity,
       transactions = EXCLUDED.transactions, segments = EXCLUDED.segments, rebased_at = now()`,
    [from, state.current, plan[0].transactions, segments],
  );
  await recordLogIdentity(client, state.current);
  return {
    outcome: 'rebased',
    from,
    to: state.current,
    events: events ?? 0,
    transactions: Number(plan[0].transactions),
    segments,
    checkpoints,
    burned: 0,
  };
};

/**
 * Makes the cluster assign `count` transaction ids (one tiny committed transaction each, without waiting
 * for the WAL flush), so that the re-based ids all lie below the next one. Costs about as many ids as a
 * busy hour of the old cluster; PostgreSQL's own vacuum freezing is unaffected.
 */
const burnTransactionIds = async (pool: pg.Pool, count: number): Promise<void> => {
  if (!Number.isSafeInteger(count) || count <= 0)
    throw new RangeError(`Cannot burn ${count} transaction ids`);
  const client = await pool.connect();
  try {
    await client.query('SET synchronous_commit = off');
    await client.query(
      `DO $$ BEGIN FOR i IN 1..${count} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`,
    );
  } finally {
    client.release(true);
  }
};

export type LogCoordinates = Readonly<{
  /** The log's recorded cluster identity; undefined when this database holds no PostgreSQL log. */
  identity: string | undefined;
  /** Re-bases done, oldest first. */
  rebases: readonly Readonly<{ from: string; to: string }>[];
}>;

/** The log's identity and re-bases, read from the control database (nothing when it has no log). */
export const readLogCoordinates = async (control: pg.Pool): Promise<LogCoordinates> => {
  const { rows: tables } = await control.query<{ identity: boolean; rebases: boolean }>(
    `SELECT to_regclass('event_log_identity') IS NOT NULL AS identity,
            to_regclass('event_log_rebases') IS NOT NULL AS rebases`,
  );
  if (!tables[0].identity) return { identity: undefined, rebases: [] };
  const { rows } = await control.query<{ identity: string }>(
    'SELECT system_identifier AS identity FROM event_log_identity',
  );
  const identity = rows[0]?.identity;
  if (!identity || !tables[0].rebases) return { identity, rebases: [] };
  const { rows: rebases } = await control.query<{ from: string; to: string }>(
    'SELECT from_identity AS "from", to_identity AS "to" FROM event_log_rebases ORDER BY rebased_at',
  );
  return { identity, rebases };
};

/** Maps `checkpoints` (PostgreSQL checkpoints in the coordinates of the log as of `from`) through its re-base. */
export const mapCheckpoints = async (
  control: pg.Pool,
  from: string,
  checkpoints: readonly string[],
): Promise<string[]> => {
  const { rows } = await control.query<{ checkpoint: string }>(
    `SELECT ${mapped('u.c', '$1')} AS checkpoint FROM unnest($2::text[]) WITH ORDINALITY AS u(c, i) ORDER BY u.i`,
    [from, checkpoints],
  );
  return rows.map((r) => r.checkpoint);
};
