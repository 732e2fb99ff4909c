import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { mapCheckpoints, readLogCoordinates, type LogCoordinates } from '../event-store/log-rebase.js';
import { REBASE_COMMAND } from '../event-store/log-identity.js';

/**
 * A tenant database's projection checkpoints are positions of the log in the control database, which a
 * restore may have re-based (event-store/log-rebase.ts, ADR 0024). The tenant database records which log
 * identity its checkpoints belong to (`projection_checkpoints_log`, tenant migration 0006); when opened,
 * checkpoints of an older identity are mapped through the re-bases recorded since, in one transaction with
 * the new identity, so a crash leaves them either all old or all new.
 */

// Any constant: serialises aligners of one database (two instances opening a tenant at once).
const LOCK_KEY = 0x6c6f6731;

/** Thrown when a tenant's checkpoints belong to a log no recorded re-base leads from. */
export class TenantCheckpointsFromAnotherLog extends Error {
  constructor(tenantId: string, marker: string, identity: string) {
    super(
      `The projection checkpoints of tenant ${tenantId} are positions of the event log of PostgreSQL cluster ` +
        `${marker}, but the log is now cluster ${identity}'s and no re-base from ${marker} is recorded ` +
        `(was the control database restored from a backup older than \`${REBASE_COMMAND}\`?). Restore the ` +
        `control database and this tenant's from the same backup, or delete the rows of its projection_checkpoints ` +
        `and projection_checkpoints_log tables to replay its read models from the start.`,
    );
    this.name = 'TenantCheckpointsFromAnotherLog';
  }
}

/**
 * The identities whose re-bases the tenant's checkpoints must go through, in order, to reach the log's
 * `identity` (empty: they are already its positions, or there are none). `marker` is undefined in a
 * database not yet aligned: its checkpoints were written before any re-base this deployment recorded,
 * so they start from the oldest re-base's source. Throws TenantCheckpointsFromAnotherLog when no chain
 * of re-bases leads from the marker to the log.
 */
export const alignmentPath = (
  tenantId: string,
  marker: string | undefined,
  log: Readonly<{ identity: string; rebases: LogCoordinates['rebases'] }>,
  hasCheckpoints: boolean,
): string[] => {
  if (!hasCheckpoints) return [];
  const start = marker ?? log.rebases[0]?.from ?? log.identity;
  const next = new Map(log.rebases.map((r) => [r.from, r.to]));
  const path: string[] = [];
  for (let at = start; at !== log.identity;) {
    const to = next.get(at);
    if (to === undefined || path.length > log.rebases.length)
      throw new TenantCheckpointsFromAnotherLog(tenantId, start, log.identity);
    path.push(at);
    at = to;
  }
  return path;
};

export type Alignment = 'unchanged' | 'recorded' | 'rebased';

/**
 * Makes the tenant database's projection checkpoints positions of the current log (see above). Does
 * nothing when the control database holds no PostgreSQL log (KurrentDB). One query on the tenant database
 * and two or three on the control database when already aligned.
 */
export const alignProjectionCheckpoints = async (
  em: EntityManager,
  control: pg.Pool,
  tenantId: string,
): Promise<Alignment> => {
  const log = await readLogCoordinates(control);
  const identity = log.identity;
  if (identity === undefined) return 'unchanged';
  const readMarker = async (db: EntityManager) =>
    (await db.execute<{ log_identity: string }[]>('SELECT log_identity FROM projection_checkpoints_log'))[0]
      ?.log_identity;
  if ((await readMarker(em.fork())) === identity) return 'unchanged';
  return em.fork().transactional(async (tx) => {
    await tx.execute('SELECT pg_advisory_xact_lock(?)', [LOCK_KEY]);
    const marker = await readMarker(tx);
    if (marker === identity) return 'unchanged';
    const rows = await tx.execute<{ name: string; checkpoint: string }[]>(
      'SELECT name, checkpoint FROM projection_checkpoints ORDER BY name FOR UPDATE',
    );
    const path = alignmentPath(tenantId, marker, { identity, rebases: log.rebases }, rows.length > 0);
    let checkpoints = rows.map((r) => r.checkpoint);
    for (const from of path) checkpoints = await mapCheckpoints(control, from, checkpoints);
    for (const [i, row] of rows.entries())
      await tx.execute(
        'UPDATE projection_checkpoints SET checkpoint = ?, updated_at = now() WHERE name = ?',
        [checkpoints[i], row.name],
      );
    await tx.execute(
      `INSERT INTO projection_checkpoints_log (log_identity) VALUES (?)
       ON CONFLICT (singleton) DO UPDATE SET log_identity = EXCLUDED.log_identity, updated_at = now()`,
      [identity],
    );
    return path.length > 0 ? 'rebased' : 'recorded';
  });
};
