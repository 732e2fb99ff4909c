import type { EntityManager } from '@mikro-orm/postgresql';
import type { Checkpoint, RecordedEvent } from '../../ports/event-store.port.js';
import { ProjectionCheckpoint } from './report-view.entity.js';
import {
  LIVE_REPORT_VIEW,
  loadProjectionCheckpoint,
  lockLiveReportView,
  projectReportEvents,
  type ReportViewTarget,
} from './report-view.projection.js';

/**
 * Blue/green rebuild of one tenant's reports read model (design.md "Projections"; Marten's blue/green
 * rebuild): the new model is built beside the live one, in table `reports_next` with its own checkpoint,
 * from the first event on; reads keep answering from `reports` until the switch, which catches the new
 * table up under the live projection's lock and swaps the two in one transaction. Everything here runs
 * in the tenant's database through the caller's EntityManager (one transaction per call).
 */
export const REBUILD_TARGET = {
  table: 'reports_next',
  checkpoint: 'reports#rebuild',
} as const satisfies ReportViewTarget;

/**
 * Creates the rebuild's table, shaped and indexed like `reports` (LIKE … INCLUDING ALL follows every
 * migration of the live table). `fresh` drops what an earlier, abandoned rebuild left; a resumed rebuild
 * keeps its table and checkpoint.
 */
export const prepareReportViewRebuild = async (em: EntityManager, fresh: boolean): Promise<void> => {
  if (fresh) {
    await em.execute(`DROP TABLE IF EXISTS ${REBUILD_TARGET.table}`);
    await em.execute('DELETE FROM projection_checkpoints WHERE name = ?', [REBUILD_TARGET.checkpoint]);
  }
  await em.execute(`CREATE TABLE IF NOT EXISTS ${REBUILD_TARGET.table} (LIKE reports INCLUDING ALL)`);
};

/** The rebuild's checkpoint: where its next page starts (undefined: from the first event). */
export const rebuildCheckpoint = (em: EntityManager): Promise<Checkpoint | undefined> =>
  loadProjectionCheckpoint(em, REBUILD_TARGET.checkpoint);

/**
 * Applies a page to the rebuild's table and moves its checkpoint from `after` (the caller's transaction),
 * fenced like the live projection: CheckpointMoved when another runner of the rebuild moved it.
 */
export const applyRebuildPage = (
  em: EntityManager,
  events: readonly RecordedEvent[],
  after: Checkpoint | undefined,
): Promise<void> => projectReportEvents(em, events, after, REBUILD_TARGET);

type IndexRow = { indexname: string; indexdef: string };

/** An index definition without its own name and table: what two tables' matching indexes share. */
const shape = (indexdef: string) => indexdef.replace(/INDEX \S+ ON \S+/, 'INDEX ON');

/**
 * The switch, in the caller's transaction: takes the live projection's lock (its next page waits, then
 * applies to the new table, where the rows' versions make a repeat a no-op), lets `catchUp` apply the
 * events the rebuild has not seen yet, then swaps the tables, gives the new one the live indexes' names,
 * drops the old one and moves the live checkpoint to the rebuild's — unfenced on purpose: the switch is the
 * other writer, and a live page still in flight finds the checkpoint moved and rolls back. Readers blocked for the swap's few
 * statements resolve `reports` again once it commits, and find the new table.
 */
export const switchReportView = async (
  em: EntityManager,
  catchUp: (after: Checkpoint | undefined) => Promise<void>,
): Promise<void> => {
  await lockLiveReportView(em);
  await catchUp(await rebuildCheckpoint(em));
  const live = await em.execute<IndexRow[]>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'reports'`,
  );
  const next = await em.execute<IndexRow[]>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?`,
    [REBUILD_TARGET.table],
  );
  await em.execute('ALTER TABLE reports RENAME TO reports_retired');
  await em.execute('DROP TABLE reports_retired');
  await em.execute(`ALTER TABLE ${REBUILD_TARGET.table} RENAME TO reports`);
  for (const index of next) {
    const name = live.find((l) => shape(l.indexdef) === shape(index.indexdef))?.indexname;
    if (name && name !== index.indexname)
      await em.execute(`ALTER INDEX "${index.indexname}" RENAME TO "${name}"`);
  }
  const checkpoint = await rebuildCheckpoint(em);
  if (checkpoint)
    await em.upsert(ProjectionCheckpoint, {
      name: LIVE_REPORT_VIEW.checkpoint,
      checkpoint,
      updatedAt: new Date(),
    });
  await em.execute('DELETE FROM projection_checkpoints WHERE name = ?', [REBUILD_TARGET.checkpoint]);
};
