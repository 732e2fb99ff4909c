import type pg from 'pg';
import { type CheckpointMove, CheckpointMoved } from '../../application/ports/checkpoint-fence.port.js';

/**
 * Stores `move.to` as `name`'s checkpoint in `table` (columns name, checkpoint, updated_at) only while the
 * stored one is still `move.after` (compare-and-set; checkpoint-fence.port.ts): an UPDATE guarded by the
 * old value, or, when there was none, an INSERT that does nothing on conflict. Under READ COMMITTED a
 * concurrent writer's committed move makes the guard fail (the row is re-checked after its lock is
 * released). Run it first in the page's transaction: it locks the checkpoint row, so a second writer
 * waits there before any effect. Rejects with CheckpointMoved (the caller's transaction rolls back).
 */
export const storeCheckpointFenced = async (
  client: pg.Pool | pg.ClientBase,
  table: string,
  name: string,
  move: CheckpointMove,
): Promise<void> => {
  const { rowCount } =
    move.after === undefined
      ? await client.query(
          `INSERT INTO ${table} (name, checkpoint, updated_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO NOTHING`,
          [name, move.to],
        )
      : await client.query(
          `UPDATE ${table} SET checkpoint = $2, updated_at = now() WHERE name = $1 AND checkpoint = $3`,
          [name, move.to, move.after],
        );
  if (!rowCount) throw new CheckpointMoved(name, move.after);
};
