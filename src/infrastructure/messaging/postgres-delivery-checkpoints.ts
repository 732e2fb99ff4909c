import type { CheckpointMove } from '../../application/ports/checkpoint-fence.port.js';
import { storeCheckpointFenced } from '../postgres/fenced-checkpoint.js';
import type pg from 'pg';
import type { Checkpoint } from '../../application/ports/event-store.port.js';
import type { DeliveryCheckpoints } from '../../application/ports/delivery-checkpoints.port.js';
import { migrateSchema } from '../postgres/transaction.js';

/**
 * A table of its own, not `subscription_checkpoints` (the projections'): a read-model rebuild resets
 * projection checkpoints and never these, so no replay re-publishes a notification (ADR 0016).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS delivery_checkpoints (
  name       text PRIMARY KEY,
  checkpoint text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);`;

/** The delivering subscriptions' checkpoints, in the control database. */
export class PostgresDeliveryCheckpoints implements DeliveryCheckpoints {
  constructor(private readonly pool: pg.Pool) {}

  migrate(): Promise<void> {
    return migrateSchema(this.pool, 'conflux.delivery_checkpoints', SCHEMA);
  }

  async load(name: string): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query<{ checkpoint: Checkpoint }>(
      'SELECT checkpoint FROM delivery_checkpoints WHERE name = $1',
      [name],
    );
    return rows[0]?.checkpoint;
  }

  /** Compare-and-set (fenced-checkpoint.ts): CheckpointMoved when the stored one is not `move.after`. */
  store(name: string, move: CheckpointMove): Promise<void> {
    return storeCheckpointFenced(this.pool, 'delivery_checkpoints', name, move);
  }
}
