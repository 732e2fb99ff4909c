import type { EntityManager } from '@mikro-orm/postgresql';
import { type Report, reportDecider } from '../../../domain/report/report.decider.js';
import { type CheckpointMove, CheckpointMoved } from '../../ports/checkpoint-fence.port.js';
import type { Checkpoint, RecordedEvent } from '../../ports/event-store.port.js';
import { readReportEvent } from '../report-event-codec.js';
import { parseReportStream } from '../report-stream.js';
import { ProjectionCheckpoint } from './report-view.entity.js';

export const REPORT_VIEW_PROJECTION = 'reports';

/**
 * Where a page of report events goes: the live read model (table `reports`, checkpoint `reports`), or a
 * rebuild's table beside it (report-view.rebuild.ts), each with its own checkpoint row.
 */
export type ReportViewTarget = Readonly<{ table: string; checkpoint: string | null }>;

export const LIVE_REPORT_VIEW: ReportViewTarget = { table: 'reports', checkpoint: REPORT_VIEW_PROJECTION };

/**
 * Taken first by every transaction that writes the live read model, and by a rebuild's switch: a page of
 * the live projection never runs across the switch (in one tenant database; the key is a constant).
 */
export const lockLiveReportView = (em: EntityManager): Promise<unknown> =>
  em.execute(`SELECT pg_advisory_xact_lock(hashtext('conflux.reports-projection'))`);

/**
 * Stores `move.to` as projection `name`'s checkpoint only while the stored one is still `move.after`
 * (compare-and-set, checkpoint-fence.port.ts): an UPDATE guarded by the old value, or an INSERT that does
 * nothing on conflict when there was none. Rejects with CheckpointMoved, so the caller's transaction (the
 * page) rolls back: a deposed leader's page never lands after the new leader's.
 */
export const storeProjectionCheckpoint = async (
  em: EntityManager,
  name: string,
  move: CheckpointMove,
): Promise<void> => {
  const stored =
    move.after === undefined
      ? await em.execute<{ name: string }[]>(
          `INSERT INTO projection_checkpoints (name, checkpoint, updated_at) VALUES (?, ?, now())
           ON CONFLICT (name) DO NOTHING RETURNING name`,
          [name, move.to],
        )
      : await em.execute<{ name: string }[]>(
          `UPDATE projection_checkpoints SET checkpoint = ?, updated_at = now()
           WHERE name = ? AND checkpoint = ? RETURNING name`,
          [move.to, name, move.after],
        );
  if (stored.length === 0) throw new CheckpointMoved(name, move.after);
};

type Row = {
  id: string;
  requestedBy: string;
  version: number;
  state: Report;
  createdAt: Date;
  updatedAt: Date;
};

/**
 * Applies a page of report events to the tenant's reports table and moves the checkpoint, in the caller's
 * transaction: the read model changes exactly once per event although delivery is at least once (each
 * row remembers the revision it last applied). The page costs three statements whatever its size: the
 * checkpoint (compare-and-set from `after`, the checkpoint the page follows; CheckpointMoved when another
 * writer moved it, and the caller's transaction must roll back), load its reports (locked), one multi-row
 * upsert of those that changed. The rows are the `ReportView` entity's table; reads go through the entity.
 */
export const projectReportEvents = async (
  em: EntityManager,
  events: readonly RecordedEvent[],
  after: Checkpoint | undefined,
  target: ReportViewTarget = LIVE_REPORT_VIEW,
): Promise<void> => {
  if (target.table === LIVE_REPORT_VIEW.table) await lockLiveReportView(em);
  const last = events[events.length - 1];
  if (last && target.checkpoint)
    await storeProjectionCheckpoint(em, target.checkpoint, { after, to: last.checkpoint });
  const ids = [...new Set(events.flatMap((e) => parseReportStream(e.streamName)?.reportId ?? []))];
  const rows = new Map<string, Row>();
  if (ids.length > 0) {
    const loaded = await em.execute<
      {
        id: string;
        requested_by: string;
        version: number;
        state: Report;
        created_at: Date;
        updated_at: Date;
      }[]
    >(
      `SELECT id, requested_by, version, state, created_at, updated_at FROM ${target.table}
       WHERE id IN (${ids.map(() => '?').join(', ')}) FOR UPDATE`,
      ids,
    );
    for (const r of loaded) {
      rows.set(r.id, {
        id: r.id,
        requestedBy: r.requested_by,
        version: r.version,
        state: r.state,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      });
    }
  }
  const changed = new Set<string>();
  for (const recorded of events) {
    const stream = parseReportStream(recorded.streamName);
    if (!stream) continue;
    const event = readReportEvent(recorded);
    const row = rows.get(stream.reportId);
    if (!row) {
      if (event.type !== 'ReportRequested') continue;
      const state = reportDecider.evolve(reportDecider.initialState(), event);
      const requestedAt = new Date(state.requestedAt);
      rows.set(stream.reportId, {
        id: stream.reportId,
        requestedBy: state.requestedBy,
        version: recorded.revision,
        state,
        createdAt: requestedAt,
        updatedAt: new Date(recorded.createdAt),
      });
    } else if (recorded.revision > row.version) {
      row.state = reportDecider.evolve(row.state, event);
      row.version = recorded.revision;
      row.updatedAt = new Date(recorded.createdAt);
    } else continue;
    changed.add(stream.reportId);
  }
  if (changed.size > 0) {
    const values = [...changed].map((id) => rows.get(id)!);
    await em.execute(
      `INSERT INTO ${target.table} AS r (id, requested_by, status, version, state, created_at, updated_at)
       VALUES ${values.map(() => '(?, ?, ?, ?, ?::jsonb, ?, ?)').join(', ')}
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, version = excluded.version,
         state = excluded.state, updated_at = excluded.updated_at
       WHERE r.version < excluded.version`,
      values.flatMap((r) => [
        r.id,
        r.requestedBy,
        r.state.status,
        r.version,
        JSON.stringify(r.state),
        r.createdAt,
        r.updatedAt,
      ]),
    );
  }
};

/**
 * Re-projects one report from its whole stream (`events`, from readStream), replacing its row: an
 * operator's retry of a parked event, once a fix makes the stream readable. The checkpoint stays.
 */
export const reprojectReport = async (
  em: EntityManager,
  reportId: string,
  events: readonly RecordedEvent[],
): Promise<void> => {
  await lockLiveReportView(em);
  await em.execute(`DELETE FROM ${LIVE_REPORT_VIEW.table} WHERE id = ?`, [reportId]);
  await projectReportEvents(em, events, undefined, { table: LIVE_REPORT_VIEW.table, checkpoint: null });
};

/**
 * Moves the checkpoint past a parked event without applying it (its report keeps its last state), fenced
 * on `after` like a page (CheckpointMoved when another writer moved it).
 */
export const skipReportEvent = async (
  em: EntityManager,
  event: RecordedEvent,
  after: Checkpoint | undefined,
): Promise<void> => {
  await lockLiveReportView(em);
  await storeProjectionCheckpoint(em, REPORT_VIEW_PROJECTION, { after, to: event.checkpoint });
};

export const loadProjectionCheckpoint = async (
  em: EntityManager,
  name: string = REPORT_VIEW_PROJECTION,
): Promise<Checkpoint | undefined> =>
  (await em.findOne(ProjectionCheckpoint, { name }))?.checkpoint as Checkpoint | undefined;
