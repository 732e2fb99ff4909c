import {
  FINAL_REPORT_EVENT_TYPES,
  NOTIFICATION_TYPES,
} from '../../../application/delivery/report-notification.js';

/**
 * The AsyncAPI 3 description of the report notifications topic (api.md, "Delivery"): one message per final
 * report event, CloudEvents 1.0 in the Kafka binding's binary mode. Built from the same names the relay
 * uses (NOTIFICATION_TYPES), so the document and the messages cannot drift apart on them; a test checks real
 * messages against it.
 */

const messageName = (type: string) => type.charAt(0).toLowerCase() + type.slice(1);

const fileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'contentType', 'rows', 'bytes', 'sha256'],
  properties: {
    name: { type: 'string', examples: ['transactions.csv'] },
    contentType: { type: 'string', examples: ['text/csv'] },
    rows: { type: ['integer', 'null'], minimum: 0, description: 'Data rows (CSV), null for other files' },
    bytes: { type: 'integer', minimum: 0 },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
};

const valueSchema = (status: string) => ({
  type: 'object',
  additionalProperties: false,
  required: ['reportId', 'tenantId', 'status', 'files', 'error', 'completedAt'],
  description: 'The report summary: no tax ID, no URL (fetch files through the API).',
  properties: {
    reportId: { type: 'string' },
    tenantId: { type: 'string' },
    status: { type: 'string', const: status },
    files: { type: 'array', items: fileSchema, description: 'Empty unless the report is ready' },
    error:
      status === 'failed'
        ? {
            type: 'object',
            additionalProperties: false,
            required: ['code', 'message', 'provider'],
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              provider: { type: ['string', 'null'] },
            },
          }
        : { type: 'null' },
    completedAt: { type: 'string', format: 'date-time', description: 'When the report became final' },
  },
});

const headersSchema = (ceType: string) => ({
  type: 'object',
  required: ['ce_specversion', 'ce_id', 'ce_source', 'ce_type', 'ce_subject', 'ce_time', 'content-type'],
  properties: {
    ce_specversion: { type: 'string', const: '1.0' },
    ce_id: {
      type: 'string',
      description: 'The event id: the same on every redelivery, so consumers dedupe on it',
    },
    ce_source: { type: 'string', pattern: '^/conflux/tenants/[^/]+$', examples: ['/conflux/tenants/acme'] },
    ce_type: { type: 'string', const: ceType },
    ce_subject: { type: 'string', description: 'The report id' },
    ce_time: { type: 'string', format: 'date-time', description: 'When the event was recorded' },
    'content-type': { type: 'string', const: 'application/json' },
    traceparent: {
      type: 'string',
      pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$',
      description: 'W3C Trace Context of the request that created the report; absent when it had none',
    },
  },
});

/**
 * The document for `topic` (KAFKA_TOPIC), as a plain object. Its version is the messages' contract
 * version: 1 while every `ce_type` ends in `.v1`.
 */
export const buildAsyncApiDocument = (topic: string): Record<string, unknown> => {
  const messages = Object.fromEntries(
    FINAL_REPORT_EVENT_TYPES.map((type) => {
      const { cloudEvent, status } = NOTIFICATION_TYPES[type];
      return [
        messageName(type),
        {
          name: cloudEvent,
          title: `Report ${status}`,
          summary: `A report became ${status} (${type}).`,
          contentType: 'application/json',
          headers: headersSchema(cloudEvent),
          payload: valueSchema(status),
          bindings: {
            kafka: { key: { type: 'string', description: 'The report id' }, bindingVersion: '0.5.0' },
          },
        },
      ];
    }),
  );
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Conflux report notifications',
      version: '1.0.0',
      description:
        'One message per final report event (ready, failed, cancelled) on the Kafka topic, delivered at ' +
        "least once: dedupe on `ce_id`. Key = report id, so one report's messages keep their order. " +
        'CloudEvents 1.0, Kafka protocol binding, binary mode.',
    },
    defaultContentType: 'application/json',
    channels: {
      reportNotifications: {
        address: topic,
        description: 'KAFKA_TOPIC of the deployment.',
        messages,
        bindings: { kafka: { topic, bindingVersion: '0.5.0' } },
      },
    },
    operations: {
      sendReportNotification: {
        action: 'send',
        summary: 'Conflux publishes a notification once the event is in its log.',
        channel: { $ref: '#/channels/reportNotifications' },
        messages: FINAL_REPORT_EVENT_TYPES.map((type) => ({
          $ref: `#/channels/reportNotifications/messages/${messageName(type)}`,
        })),
      },
    },
  };
};
