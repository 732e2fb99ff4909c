import { PROVIDER_NAMES } from '../../../domain/report/provider-data.js';
import type { ReportEvent } from '../../../domain/report/report.events.js';
import type { EventMetadata } from '../../ports/event-store.port.js';
import type { WorkChange } from '../../ports/scheduled-work.port.js';

/**
 * The process manager's durable timers, as a pure projection of report events: what is due, for which
 * report and step. Deleting a report's rows is how cancellation and final states stop all its work.
 */
export const scheduledWorkChanges = (
  event: ReportEvent,
  metadata: EventMetadata,
  providerDeadlineMs: number,
): WorkChange[] => {
  const tenantId = metadata.tenantId;
  switch (event.type) {
    case 'ReportRequested': {
      // Due now and a deadline from now, on the database's clock (one clock): requestedAt comes from the
      // clock of whichever instance took the request.
      const { reportId, subject, period } = event.data;
      return PROVIDER_NAMES.map((provider) => ({
        op: 'upsert',
        item: {
          tenantId,
          reportId,
          step: provider,
          kind: 'submit',
          attempt: 0,
          jobId: null,
          deadlineInMs: providerDeadlineMs,
          subject,
          period,
          ...(metadata.traceparent ? { traceparent: metadata.traceparent } : {}),
        },
      }));
    }
    case 'ProviderJobSubmitted':
      return [
        {
          op: 'job',
          tenantId,
          reportId: event.data.reportId,
          step: event.data.provider,
          jobId: event.data.jobId,
        },
      ];
    case 'ProviderPollScheduled': {
      const { reportId, provider, attempt, dueAt } = event.data;
      return [{ op: 'schedule', tenantId, reportId, step: provider, attempt, dueAt: new Date(dueAt) }];
    }
    case 'ProviderResultRecorded':
      return [
        { op: 'delete', tenantId, reportId: event.data.reportId, step: event.data.provider },
        {
          op: 'generate-when-providers-done',
          tenantId,
          reportId: event.data.reportId,
          ...(metadata.traceparent ? { traceparent: metadata.traceparent } : {}),
        },
      ];
    case 'ProviderFailed':
    case 'ReportReady':
    case 'ReportFailed':
    case 'ReportCancelled':
      return [{ op: 'delete', tenantId, reportId: event.data.reportId }];
    case 'ReportGenerationStarted':
      return [];
  }
};
