import type pg from 'pg';

/** Runs `work` in one transaction on a pooled client: committed when it resolves, rolled back when it throws. */
export const inTransaction = async <T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};

/**
 * Applies idempotent DDL under an advisory lock: instances starting together would otherwise collide in
 * the catalog even with `CREATE … IF NOT EXISTS`. `then` (optional) runs in the same transaction, under
 * the same lock, after the DDL: a data migration that must run once however many instances start.
 */
export const migrateSchema = (
  pool: pg.Pool,
  lockName: string,
  ddl: string,
  then?: (client: pg.PoolClient) => Promise<void>,
): Promise<void> =>
  inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockName]);
    await client.query(`SET LOCAL client_min_messages = warning; ${ddl}`);
    await then?.(client);
  });
