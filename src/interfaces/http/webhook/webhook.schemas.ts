import { z } from 'zod';
import {
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from '../../../application/delivery/report-notification.js';
import { nameText } from '../problem/text-input.js';
import { listUsersQuery } from '../user/user.schemas.js';

const eventType = z.enum(WEBHOOK_EVENT_TYPES as [WebhookEventType, ...WebhookEventType[]]);

/** api.md "Webhooks": `{ url, events, description }`; http(s) only (the SSRF guard then checks the host). */
export const createWebhookBody = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
    .max(2048, 'must be at most 2048 characters'),
  events: z
    .array(eventType)
    .min(1, 'must name at least one event')
    .refine((events) => new Set(events).size === events.length, 'must not repeat an event'),
  description: nameText(500).nullable().default(null),
});

/** The same cursor pagination as GET /v1/users and GET /v1/reports. */
export const listWebhooksQuery = listUsersQuery;

export const webhookEndpointSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string().nullable(),
  status: z.enum(['enabled', 'disabled']),
  createdAt: z.string(),
});

/** Create and rotate only: the signing secret, shown this once. */
export const webhookEndpointWithSecretSchema = webhookEndpointSchema.extend({
  secret: z.string().regex(/^whsec_/),
});

export const webhookPageSchema = z.object({ data: z.array(webhookEndpointSchema), hasMore: z.boolean() });

export const webhookAttemptSchema = z.object({
  id: z.string(),
  eventType: z.string(),
  reportId: z.string(),
  attempt: z.number().int().min(1),
  status: z.enum(['delivered', 'retrying', 'failed']),
  responseStatus: z.number().int().nullable(),
  at: z.string(),
  nextAttemptAt: z.string().nullable(),
});

export const webhookAttemptPageSchema = z.object({
  data: z.array(webhookAttemptSchema),
  hasMore: z.boolean(),
});
