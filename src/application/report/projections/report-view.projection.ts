import type { EntityManager } from '@mikro-orm/postgresql';
import { reportDecider } from '../../../domain/report/report.decider.js';
import { upcast } from '../../../domain/report/report.events.js';
import type { Checkpoint, RecordedEvent } from '../../ports/event-store.port.js';
import { parseReportStream } from '../report-stream.js';
import { ProjectionCheckpoint, ReportView } from './report-view.entity.js';

export const REPORT_VIEW_PROJECTION = 'reports';

/**
 * Applies a page of report events to the tenant's reports table and moves the checkpoint, in the caller's
 * transaction: the read model changes exactly once per event although delivery is at least once (each
 * row remembers the revision it last applied). The page's rows are loaded in one query and written in
 * one flush.
 */
export const projectReportEvents = async (
  em: EntityManager,
  events: readonly RecordedEvent[],
): Promise<void> => {
  const ids = [...new Set(events.flatMap((e) => parseReportStream(e.streamName)?.reportId ?? []))];
  const views = new Map((await em.find(ReportView, { id: { $in: ids } })).map((v) => [v.id, v]));
  for (const recorded of events) {
    const stream = parseReportStream(recorded.streamName);
    if (!stream) continue;
    const event = upcast(recorded);
    const at = new Date(recorded.createdAt);
    const view = views.get(stream.reportId);
    if (!view) {
      if (event.type !== 'ReportRequested') continue;
      const state = reportDecider.evolve(reportDecider.initialState(), event);
      views.set(
        stream.reportId,
        em.create(ReportView, {
          id: stream.reportId,
          requestedBy: state.requestedBy,
          status: state.status,
          version: recorded.revision,
          state,
          createdAt: new Date(state.requestedAt),
          updatedAt: at,
        }),
      );
    } else if (recorded.revision > view.version) {
      const state = reportDecider.evolve(view.state, event);
      view.state = state;
      view.status = state.status;
      view.version = recorded.revision;
      view.updatedAt = at;
    }
  }
  const last = events[events.length - 1];
  if (last) {
    await em.upsert(ProjectionCheckpoint, {
      name: REPORT_VIEW_PROJECTION,
      checkpoint: last.checkpoint,
      updatedAt: new Date(),
    });
  }
};

export const loadProjectionCheckpoint = async (em: EntityManager): Promise<Checkpoint | undefined> =>
  (await em.findOne(ProjectionCheckpoint, { name: REPORT_VIEW_PROJECTION }))?.checkpoint as
    Checkpoint | undefined;
