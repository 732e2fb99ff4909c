import pg from 'pg';
import { CheckpointMoved } from '../../../src/application/ports/checkpoint-fence.port.js';
import type { Checkpoint } from '../../../src/application/ports/event-store.port.js';
import { PostgresDeliveryCheckpoints } from '../../../src/infrastructure/messaging/postgres-delivery-checkpoints.js';
import { createTestDatabase } from '../../support/database.js';

const cp = (n: number) => `cp-${n}` as Checkpoint;

/** PostgreSQL only (no broker): the relay's checkpoint is a fence (ADR 0014), never moved backwards. */
describe('PostgresDeliveryCheckpoints', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let checkpoints: PostgresDeliveryCheckpoints;

  beforeAll(async () => {
    db = await createTestDatabase('delivery_checkpoints');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined);
    checkpoints = new PostgresDeliveryCheckpoints(pool);
    await checkpoints.migrate();
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(() => pool.query('TRUNCATE delivery_checkpoints'));

  it('stores a move only from the checkpoint still stored', async () => {
    expect(await checkpoints.load('relay')).toBeUndefined();
    await checkpoints.store('relay', { after: undefined, to: cp(1) });
    await checkpoints.store('relay', { after: cp(1), to: cp(2) });
    expect(await checkpoints.load('relay')).toBe('cp-2');
  });

  it('leaves the checkpoint where another writer moved it when a late page was read after an older one', async () => {
    await checkpoints.store('relay', { after: undefined, to: cp(1) });
    await checkpoints.store('relay', { after: cp(1), to: cp(3) }); // the new leader
    await expect(checkpoints.store('relay', { after: cp(1), to: cp(2) })).rejects.toBeInstanceOf(
      CheckpointMoved,
    );
    await expect(checkpoints.store('relay', { after: undefined, to: cp(2) })).rejects.toBeInstanceOf(
      CheckpointMoved,
    );
    expect(await checkpoints.load('relay')).toBe('cp-3');
  });
});
