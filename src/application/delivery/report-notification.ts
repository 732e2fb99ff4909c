import type { LogFilter, RecordedEvent } from '../ports/event-store.port.js';
import { REPORT_CATEGORY, parseReportStream } from '../report/report-stream.js';
import { readReportEvent } from '../report/report-event-codec.js';

/**
 * What downstream systems are told when a report reaches its final state: one notification per
 * `ReportReady`, `ReportFailed` or `ReportCancelled`. The Kafka relay and the webhook deliveries both send
 * this (api.md, "Delivery"): one source for the shape, so the two channels never disagree.
 */

/** The final report events, in the log's own names; a log filter for the consumers that deliver them. */
export const FINAL_REPORT_EVENT_TYPES = ['ReportReady', 'ReportFailed', 'ReportCancelled'] as const;
export type FinalReportEventType = (typeof FINAL_REPORT_EVENT_TYPES)[number];

export const FINAL_REPORT_EVENTS: LogFilter = {
  categories: [REPORT_CATEGORY],
  eventTypes: FINAL_REPORT_EVENT_TYPES,
};

/** Webhook event names (`events` of an endpoint) and CloudEvents `ce_type` values, per final event. */
export const NOTIFICATION_TYPES = {
  ReportReady: { webhook: 'report.ready', cloudEvent: 'conflux.report.ready.v1', status: 'ready' },
  ReportFailed: { webhook: 'report.failed', cloudEvent: 'conflux.report.failed.v1', status: 'failed' },
  ReportCancelled: {
    webhook: 'report.cancelled',
    cloudEvent: 'conflux.report.cancelled.v1',
    status: 'cancelled',
  },
} as const satisfies Record<FinalReportEventType, { webhook: string; cloudEvent: string; status: string }>;

export type WebhookEventType = (typeof NOTIFICATION_TYPES)[FinalReportEventType]['webhook'];
export const WEBHOOK_EVENT_TYPES = FINAL_REPORT_EVENT_TYPES.map((t) => NOTIFICATION_TYPES[t].webhook);

/** The message body (Kafka value, webhook `data`): no tax ID, no URL, no storage key. */
export type ReportNotificationValue = Readonly<{
  reportId: string;
  tenantId: string;
  status: 'ready' | 'failed' | 'cancelled';
  files: readonly Readonly<{
    name: string;
    contentType: string;
    rows: number | null;
    bytes: number;
    sha256: string;
  }>[];
  error: Readonly<{ code: string; message: string; provider: string | null }> | null;
  /** ISO-8601 UTC: when the report became final. */
  completedAt: string;
}>;

export type ReportNotification = Readonly<{
  /** The event's id: stable across redeliveries (CloudEvents `ce_id`, webhook `webhook-id` basis). */
  id: string;
  eventType: FinalReportEventType;
  webhookType: WebhookEventType;
  cloudEventType: string;
  tenantId: string;
  reportId: string;
  /** ISO-8601 UTC: when the event was recorded (CloudEvents `ce_time`). */
  time: string;
  /** W3C Trace Context of the request that created the report, when it carried one. */
  traceparent?: string;
  value: ReportNotificationValue;
}>;

/**
 * The notification for a recorded final report event; null for any other event (a consumer's filter may
 * be wider than the final events). Throws, like every reader, when the event does not parse: the
 * subscription parks it (ADR 0014).
 */
export const toReportNotification = (recorded: RecordedEvent): ReportNotification | null => {
  const stream = parseReportStream(recorded.streamName);
  if (!stream) return null;
  const event = readReportEvent(recorded);
  const base = { reportId: stream.reportId, tenantId: stream.tenantId };
  let value: ReportNotificationValue;
  switch (event.type) {
    case 'ReportReady':
      value = {
        ...base,
        status: 'ready',
        files: event.data.files.map((f) => ({
          name: f.name,
          contentType: f.contentType,
          rows: f.rows ?? null,
          bytes: f.bytes,
          sha256: f.sha256,
        })),
        error: null,
        completedAt: event.data.completedAt,
      };
      break;
    case 'ReportFailed':
      value = {
        ...base,
        status: 'failed',
        files: [],
        error: { code: event.data.code, message: event.data.message, provider: event.data.provider ?? null },
        completedAt: event.data.failedAt,
      };
      break;
    case 'ReportCancelled':
      value = { ...base, status: 'cancelled', files: [], error: null, completedAt: event.data.cancelledAt };
      break;
    default:
      return null;
  }
  const types = NOTIFICATION_TYPES[event.type];
  const traceparent = recorded.metadata.traceparent;
  return {
    id: recorded.id,
    eventType: event.type,
    webhookType: types.webhook,
    cloudEventType: types.cloudEvent,
    ...base,
    time: recorded.createdAt.toISOString(),
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
    value,
  };
};
