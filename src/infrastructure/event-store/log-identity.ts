import pg from 'pg';

/**
 * Which PostgreSQL cluster the log belongs to (ADR 0024). Positions are (transaction id, position) and
 * transaction ids are the writing cluster's: physical copies (replicas, base backups, PITR) keep the
 * cluster's `system_identifier` and its transaction ids, a `pg_dump | psql` into another cluster keeps the
 * ids but not their meaning. So the log records the identifier at its first migrate, and a store whose
 * recorded identifier is not the cluster's refuses to start until `restore rebase` (log-rebase.ts) has
 * re-based the positions.
 */

export const REBASE_COMMAND = 'npm run conflux -- restore rebase';

/** The recorded identity of a log written before identities were recorded, found to be foreign. */
export const UNRECORDED_IDENTITY = 'unrecorded';

/** Thrown by `PostgresEventStore.migrate()` when the log's positions belong to another cluster. */
export class EventLogFromAnotherCluster extends Error {
  constructor(
    readonly recorded: string,
    readonly current: string,
  ) {
    const writer =
      recorded === UNRECORDED_IDENTITY
        ? 'another PostgreSQL cluster (its events carry transaction ids this cluster has not reached)'
        : `PostgreSQL cluster ${recorded}`;
    super(
      `The event log was written by ${writer}, but this is cluster ${current}: its positions are that ` +
        `cluster's transaction ids, so readers would never see the restored events and new events would sort ` +
        `before every stored checkpoint. If this database was restored from a pg_dump, run \`${REBASE_COMMAND}\` ` +
        `once, with DATABASE_URL set, before starting Conflux (docs/operations.md, "Backup and restore").`,
    );
    this.name = 'EventLogFromAnotherCluster';
  }
}

export type IdentityVerdict = 'same' | 'record' | 'foreign';

/**
 * What to do with the log's recorded cluster identity at start-up. `recorded` is undefined for a log
 * that predates identities; such a log is foreign when some event carries a transaction id the cluster
 * has not assigned yet (`futureEvents`), and is otherwise this cluster's, or one whose ids all lie below
 * this cluster's, which reads correctly: then it is recorded as this cluster's.
 */
export const judgeLogIdentity = (
  recorded: string | undefined,
  current: string,
  futureEvents: boolean,
): IdentityVerdict => {
  if (recorded !== undefined) return recorded === current ? 'same' : 'foreign';
  return futureEvents ? 'foreign' : 'record';
};

export type LogIdentityState = Readonly<{
  /** `system_identifier` of the cluster we are connected to, as decimal text. */
  current: string;
  recorded: string | undefined;
  /** Some event's transaction id is at or above the next id this cluster will assign. */
  futureEvents: boolean;
}>;

/**
 * Reads the cluster's identity, the log's recorded one and whether the log holds events from the
 * future, in one statement. Needs the schema (sql.ts SCHEMA). `pg_control_system()` is executable by
 * everyone unless an administrator revoked it, which is reported as such.
 */
export const readLogIdentity = async (db: pg.ClientBase | pg.Pool): Promise<LogIdentityState> => {
  try {
    const { rows } = await db.query<{ current: string; recorded: string | null; future: boolean }>(
      `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS current,
              (SELECT system_identifier FROM event_log_identity) AS recorded,
              EXISTS (SELECT 1 FROM events WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())) AS future`,
    );
    return {
      current: rows[0].current,
      recorded: rows[0].recorded ?? undefined,
      futureEvents: rows[0].future,
    };
  } catch (error) {
    if (error instanceof pg.DatabaseError && error.code === '42501')
      throw new Error(
        'The event store reads the cluster identity with pg_control_system(), which this role may not ' +
          'execute: GRANT EXECUTE ON FUNCTION pg_control_system() TO the role of DATABASE_URL',
        { cause: error },
      );
    throw error;
  }
};

/** Records `identity` as the log's cluster (replacing any other). */
export const recordLogIdentity = async (db: pg.ClientBase, identity: string): Promise<void> => {
  await db.query(
    `INSERT INTO event_log_identity (system_identifier) VALUES ($1)
     ON CONFLICT (singleton) DO UPDATE SET system_identifier = EXCLUDED.system_identifier, recorded_at = now()`,
    [identity],
  );
};

/**
 * Start-up check, in the migrating transaction: records the identity of a log that has none, and throws
 * {@link EventLogFromAnotherCluster} when the log's positions belong to another cluster.
 */
export const checkLogIdentity = async (client: pg.ClientBase): Promise<void> => {
  const state = await readLogIdentity(client);
  switch (judgeLogIdentity(state.recorded, state.current, state.futureEvents)) {
    case 'same':
      return;
    case 'record':
      return recordLogIdentity(client, state.current);
    case 'foreign':
      throw new EventLogFromAnotherCluster(state.recorded ?? UNRECORDED_IDENTITY, state.current);
  }
};
