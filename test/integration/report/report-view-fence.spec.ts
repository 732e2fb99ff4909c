import pg from 'pg';
import { CheckpointMoved } from '../../../src/application/ports/checkpoint-fence.port.js';
import type { Checkpoint, RecordedEvent } from '../../../src/application/ports/event-store.port.js';
import {
  applyRebuildPage,
  prepareReportViewRebuild,
  rebuildCheckpoint,
} from '../../../src/application/report/projections/report-view.rebuild.js';
import {
  loadProjectionCheckpoint,
  projectReportEvents,
  skipReportEvent,
} from '../../../src/application/report/projections/report-view.projection.js';
import { reportStream } from '../../../src/application/report/report-stream.js';
import { MikroOrmTenantDatabases } from '../../../src/infrastructure/tenancy/tenant-databases.js';
import { createTestDatabase } from '../../support/database.js';

/**
 * The reports read model's checkpoint is a fence (ADR 0014): a page applied after another writer (a new
 * leader) moved the checkpoint commits nothing — no report row, the checkpoint where the other left it.
 */
const requested = (n: number): RecordedEvent => ({
  id: `00000000-0000-4000-8000-00000000000${n}`,
  streamName: reportStream('acme', `r${n}`),
  revision: 0,
  type: 'ReportRequested',
  data: {
    reportId: `r${n}`,
    tenantId: 'acme',
    requestedBy: 'u1',
    subject: { taxId: 'T-1' },
    period: { from: '2026-01-01', to: '2026-03-31' },
    requestedAt: '2026-04-01T10:00:00.000Z',
  },
  metadata: { tenantId: 'acme' },
  checkpoint: `cp-${n}` as Checkpoint,
  createdAt: new Date('2026-04-01T10:00:00.000Z'),
});

describe('reports read model: fenced checkpoint', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let databases: MikroOrmTenantDatabases;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('report_fence');
    databases = new MikroOrmTenantDatabases({ resolveUrl: async () => db.url, idleMs: 60_000 });
    await databases.em('acme'); // migrates
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await databases?.close();
    await db?.drop();
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE reports, projection_checkpoints');
    await pool.query('DROP TABLE IF EXISTS reports_next');
  });

  const ids = async (table = 'reports') =>
    (await pool.query<{ id: string }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);
  const live = async () => loadProjectionCheckpoint(await databases.em('acme'));

  it('a live page read after a checkpoint another writer has moved commits nothing', async () => {
    await databases.transactional('acme', (em) => projectReportEvents(em, [requested(1)], undefined));
    // The new leader applies the next page after cp-1 ...
    await databases.transactional('acme', (em) =>
      projectReportEvents(em, [requested(2)], 'cp-1' as Checkpoint),
    );
    // ... and the deposed leader's page, also read after cp-1, lands late.
    await expect(
      databases.transactional('acme', (em) => projectReportEvents(em, [requested(3)], 'cp-1' as Checkpoint)),
    ).rejects.toBeInstanceOf(CheckpointMoved);

    expect(await ids()).toEqual(['r1', 'r2']);
    expect(await live()).toBe('cp-2');
  });

  it('a first page (no checkpoint yet) commits nothing once another writer stored one', async () => {
    await databases.transactional('acme', (em) => projectReportEvents(em, [requested(2)], undefined));
    await expect(
      databases.transactional('acme', (em) => projectReportEvents(em, [requested(1)], undefined)),
    ).rejects.toBeInstanceOf(CheckpointMoved);

    expect(await ids()).toEqual(['r2']);
    expect(await live()).toBe('cp-2');
  });

  it('a parked event skipped after another writer moved the checkpoint leaves it where it was', async () => {
    await databases.transactional('acme', (em) =>
      projectReportEvents(em, [requested(1), requested(2)], undefined),
    );
    await expect(
      databases.transactional('acme', (em) => skipReportEvent(em, requested(2), 'cp-0' as Checkpoint)),
    ).rejects.toBeInstanceOf(CheckpointMoved);

    expect(await live()).toBe('cp-2');
  });

  it("a rebuild's page after another runner moved the rebuild's checkpoint commits nothing", async () => {
    await databases.transactional('acme', (em) => prepareReportViewRebuild(em, true));
    await databases.transactional('acme', (em) => applyRebuildPage(em, [requested(1)], undefined));
    await databases.transactional('acme', (em) => applyRebuildPage(em, [requested(2)], 'cp-1' as Checkpoint));
    await expect(
      databases.transactional('acme', (em) => applyRebuildPage(em, [requested(3)], 'cp-1' as Checkpoint)),
    ).rejects.toBeInstanceOf(CheckpointMoved);

    expect(await ids('reports_next')).toEqual(['r1', 'r2']);
    expect(await rebuildCheckpoint(await databases.em('acme'))).toBe('cp-2');
  });
});
