import { PROVIDER_NAMES } from '../../../domain/report/provider-data.js';
import type { ReportEvent } from '../../../domain/report/report.events.js';
import type { EventMetadata } from '../../ports/event-store.port.js';
import type { WorkChange } from '../../ports/scheduled-work.port.js';
import { defaultProcessOptions } from './process-options.js';

/** A failed or cancelled report's partial objects wait this long at most (a step may still be writing). */
const PARTIAL_OBJECTS_GRACE_MS = 10 * 60_000;

/**
 * The process manager's durable timers, as a pure projection of report events: what is due, for which
 * report and step. Deleting a report's rows is how cancellation and final states stop all its work; a
 * final state then adds the one row left, retention, which deletes the report's objects when it is due.
 */
export const scheduledWorkChanges = (
  event: ReportEvent,
  metadata: EventMetadata,
  providerDeadlineMs: number,
  fileRetentionMs: number = defaultProcessOptions.fileRetentionMs,
): WorkChange[] => {
  const tenantId = metadata.tenantId;
  const stopAndExpire = (reportId: string, when: { dueAt: Date } | { inMs: number }): WorkChange[] => [
    { op: 'delete', tenantId, reportId },
    { op: 'expire-at', tenantId, reportId, ...when },
  ];
  // From the database's now() when applied, not from failedAt/cancelledAt: a cancel's instant comes from
  // the clock of the instance that took the request (one clock). The projection's lag only lengthens it.
  const afterGrace = { inMs: Math.min(fileRetentionMs, PARTIAL_OBJECTS_GRACE_MS) };
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
    case 'ReportReady': {
      const { reportId, completedAt, retainedUntil } = event.data;
      // Both written by the worker, on the database's clock.
      return stopAndExpire(reportId, {
        dueAt: new Date(retainedUntil ?? Date.parse(completedAt) + fileRetentionMs),
      });
    }
    case 'ReportFailed':
      return stopAndExpire(event.data.reportId, afterGrace);
    case 'ReportCancelled':
      return stopAndExpire(event.data.reportId, afterGrace);
    case 'ProviderFailed':
    case 'ReportFilesExpired':
      return [{ op: 'delete', tenantId, reportId: event.data.reportId }];
    case 'ReportGenerationStarted':
      return [];
  }
};
