import type { EntityManager } from '@mikro-orm/postgresql';
import { reportDecider } from '../../../domain/report/report.decider.js';
import { upcast } from '../../../domain/report/report.events.js';
import type { RecordedEvent } from '../../ports/event-store.port.js';
import { parseReportStream } from '../report-stream.js';
import { ProjectionCheckpoint, ReportView } from './report-view.entity.js';

export const REPORT_VIEW_PROJECTION = 'reports';

/**
 * Applies one report event to the tenant's reports table and moves the checkpoint, in the caller's
 * transaction: the read model changes exactly once per event although delivery is at least once.
 */
export const projectReportEvent = async (em: EntityManager, recorded: RecordedEvent): Promise<void> => {
  const stream = parseReportStream(recorded.streamName);
  if (stream) {
    const event = upcast(recorded);
    const at = new Date(recorded.createdAt);
    const view = await em.findOne(ReportView, { id: stream.reportId });
    if (!view) {
      if (event.type === 'ReportRequested') {
        const state = reportDecider.evolve(reportDecider.initialState(), event);
        em.create(ReportView, {
          id: stream.reportId,
          requestedBy: state.requestedBy,
          status: state.status,
          version: recorded.revision,
          state,
          createdAt: new Date(state.requestedAt),
          updatedAt: at,
        });
      }
    } else if (recorded.revision > view.version) {
      const state = reportDecider.evolve(view.state, event);
      view.state = state;
      view.status = state.status;
      view.version = recorded.revision;
      view.updatedAt = at;
    }
  }
  await em.upsert(ProjectionCheckpoint, {
    name: REPORT_VIEW_PROJECTION,
    checkpoint: recorded.checkpoint,
    updatedAt: new Date(),
  });
};

export const loadProjectionCheckpoint = async (em: EntityManager, name = REPORT_VIEW_PROJECTION) =>
  (await em.findOne(ProjectionCheckpoint, { name }))?.checkpoint;
