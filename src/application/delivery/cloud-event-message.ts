import type { OutgoingMessage } from '../ports/message-bus.port.js';
import type { ReportNotification } from './report-notification.js';

/**
 * A report notification as a CloudEvents 1.0 message in the Kafka protocol binding's binary mode (api.md,
 * "Delivery"): the attributes are `ce_`-prefixed headers, the value is the data as JSON, the key is the
 * report id (one partition per report: its notifications stay in order). `ce_id` is the event id, so a
 * redelivery carries the same one and consumers dedupe on it. `traceparent` only when the report's request
 * carried one: a header without a value is not sent.
 */
export const toCloudEventMessage = (notification: ReportNotification): OutgoingMessage => ({
  key: notification.reportId,
  value: JSON.stringify(notification.value),
  headers: {
    ce_specversion: '1.0',
    ce_id: notification.id,
    ce_source: `/conflux/tenants/${notification.tenantId}`,
    ce_type: notification.cloudEventType,
    ce_subject: notification.reportId,
    ce_time: notification.time,
    'content-type': 'application/json',
    ...(notification.traceparent ? { traceparent: notification.traceparent } : {}),
  },
});
