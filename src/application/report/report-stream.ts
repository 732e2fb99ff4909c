import { type Report, reportDecider } from '../../domain/report/report.decider.js';
import { fold } from '../../domain/shared/decider.js';
import { type EventStore, categoryOf, streamNameFor } from '../ports/event-store.port.js';
import { readReportEvent } from './report-event-codec.js';

export const REPORT_CATEGORY = 'report';

/** `report-{tenantId}.{reportId}`: the tenant is part of every report stream's name. */
export const reportStream = (tenantId: string, reportId: string): string =>
  streamNameFor(REPORT_CATEGORY, tenantId, reportId);

export const parseReportStream = (streamName: string): { tenantId: string; reportId: string } | null => {
  if (categoryOf(streamName) !== REPORT_CATEGORY) return null;
  const rest = streamName.slice(REPORT_CATEGORY.length + 1);
  const dot = rest.indexOf('.');
  return dot > 0 ? { tenantId: rest.slice(0, dot), reportId: rest.slice(dot + 1) } : null;
};

/**
 * A report as of its latest event, read from its stream (`initial` when it was never requested). Throws
 * ReportEventUnreadable when an event of the stream cannot be read: a state that skipped a fact is never
 * decided on (ADR 0014).
 */
export const loadReport = async (store: EventStore, tenantId: string, reportId: string): Promise<Report> =>
  fold(reportDecider, (await store.readStream(reportStream(tenantId, reportId))).map(readReportEvent));
