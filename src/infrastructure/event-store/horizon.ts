/**
 * The readers' horizon: the transaction id below which no transaction that can append events is still
 * running, so a reader that returns only events of transactions below it skips nothing (ADR 0014).
 *
 * `pg_snapshot_xmin` alone is that bound only if every transaction of the cluster could append: a stranger's
 * long transaction in any database (a migration, `CREATE DATABASE`, a page of scheduled work) held every
 * subscriber back for as long as it ran. So appenders announce themselves: each holds a shared,
 * transaction-level advisory lock on {@link APPEND_LOCK} (advisory locks are per database) taken BEFORE its
 * first write, that is before it has a transaction id. A running transaction that owns an id but not the
 * lock can therefore never append, and the horizon ignores it.
 *
 * The proof leans on one view of the lock manager: `pg_locks` is read once (a materialized CTE), and
 * PostgreSQL builds it holding every lock partition, so "x is owned by vxid v" (v holds x's ExclusiveLock)
 * and "v holds the append lock" come from the same instant L. Each in-progress id of the statement's
 * snapshot is kept (bounds the horizon) unless at L its owner lacks the append lock AND x is still in
 * progress when checked after L (`pg_xact_status`). The second test matters: a committing transaction
 * releases its locks one lock partition at a time after it has ended, so at L an appender on its way out
 * can show its id lock without its append lock; having ended, it is no longer in progress, so it is kept.
 * Still in progress after L means it had not begun to release anything at L, so it never took the lock
 * and never will before its id (the append statement takes it first; appendWithin refuses a transaction
 * that wrote before it). An id that finished between the snapshot and L is kept (no owner): conservative,
 * it only waits for the next read; so is an id whose lock entry is not yet in the table.
 */

/** `pg_advisory_xact_lock_shared(int4, int4)` key; shows in pg_locks as classid/objid with objsubid 2. */
export const APPEND_LOCK = { classId: 1131368038, objId: 1282367265 } as const; // 'Conf', 'Log!'

/** Takes the append lock; every append statement evaluates it before it writes anything. */
export const TAKE_APPEND_LOCK = `pg_advisory_xact_lock_shared(${APPEND_LOCK.classId}, ${APPEND_LOCK.objId})`;

/**
 * CTEs `append_locks` and `horizon(xid)`, to start a reading statement with; pair with {@link VISIBLE}.
 * The lock table is read only when some transaction of the cluster is in progress.
 */
export const HORIZON_CTES = `append_locks AS MATERIALIZED (
    SELECT locktype, transactionid, virtualtransaction FROM pg_locks
    WHERE granted AND ((locktype = 'transactionid' AND mode = 'ExclusiveLock')
      OR (locktype = 'advisory' AND classid = ${APPEND_LOCK.classId} AND objid = ${APPEND_LOCK.objId} AND objsubid = 2
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())))
  ),
  horizon AS MATERIALIZED (
    SELECT CASE WHEN pg_snapshot_xmin(snap.s) = pg_snapshot_xmax(snap.s) THEN pg_snapshot_xmax(snap.s)
      ELSE COALESCE((
        SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
        WHERE NOT EXISTS (
          SELECT 1 FROM append_locks owner
          WHERE owner.locktype = 'transactionid' AND owner.transactionid = x::xid
            AND NOT EXISTS (SELECT 1 FROM append_locks appender
                            WHERE appender.locktype = 'advisory'
                              AND appender.virtualtransaction = owner.virtualtransaction)
            AND pg_xact_status(x) = 'in progress')
      ), pg_snapshot_xmax(snap.s)) END AS xid
    FROM (SELECT pg_current_snapshot() AS s) AS snap
  )`;

/** Events of transactions below the horizon: finished, and nothing can still commit before them. */
export const VISIBLE = 'transaction_id < (SELECT xid FROM horizon)';

/**
 * Who holds the horizon back now: the open transactions of this database that hold the append lock and
 * own a transaction id (`appenders`), and for how long the oldest has run (`heldSeconds`, 0 when none).
 * Readers' lag counts visible events only, so while an appender stalls the log, lag reads 0: this is the
 * figure that shows the stall (readiness detail). `xact_start` of another role's session is visible only
 * to superusers and `pg_read_all_stats`; without it such a holder counts but adds no age.
 */
export const HORIZON_HOLD = `SELECT count(*)::int AS appenders,
    COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(a.xact_start)), 0)::float8 AS held_seconds
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ${APPEND_LOCK.classId}
    AND l.objid = ${APPEND_LOCK.objId} AND l.objsubid = 2
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND a.backend_xid IS NOT NULL`;
