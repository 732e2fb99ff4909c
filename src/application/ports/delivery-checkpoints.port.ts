import type { CheckpointMove } from './checkpoint-fence.port.js';
import type { Checkpoint } from './event-store.port.js';

/**
 * Where the delivering subscriptions (the Kafka relay) keep their checkpoints: apart from the read models'
 * checkpoints, so that rebuilding a projection from position zero never moves them and never re-fires a
 * side effect (issue 9, item 5; ADR 0016).
 */
export const DELIVERY_CHECKPOINTS = Symbol('DeliveryCheckpoints');

export interface DeliveryCheckpoints {
  /** The checkpoint `name` stored last, or undefined before its first. */
  load(name: string): Promise<Checkpoint | undefined>;
  /**
   * Stores `move.to` as `name`'s position (everything up to it has been delivered), only while the stored
   * one is still `move.after` (compare-and-set, checkpoint-fence.port.ts); else rejects with
   * CheckpointMoved and stores nothing. It cannot take back what was published: it keeps a deposed leader
   * from moving the position backwards.
   */
  store(name: string, move: CheckpointMove): Promise<void>;
}
