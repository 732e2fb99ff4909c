import { defineEntity, p } from '@mikro-orm/core';

export const WEBHOOK_STATUSES = ['enabled', 'disabled'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/**
 * A tenant's webhook endpoint, in the tenant's own database (table `webhook_endpoints`, tenant migration
 * 0005). Secrets are stored encrypted (SecretCipher, bound to tenant and endpoint) and never serialised.
 * After a rotation the previous secret keeps signing until `previousSecretExpiresAt`.
 */
export const WebhookEndpointSchema = defineEntity({
  name: 'WebhookEndpoint',
  tableName: 'webhook_endpoints',
  properties: {
    id: p.uuid().primary(),
    url: p.text(),
    events: p.json<string[]>(),
    description: p.text().nullable(),
    status: p.enum(WEBHOOK_STATUSES),
    secretEncrypted: p.text().hidden(),
    previousSecretEncrypted: p.text().nullable().hidden(),
    previousSecretExpiresAt: p.datetime().nullable(),
    createdAt: p.datetime(),
  },
});

export class WebhookEndpoint extends WebhookEndpointSchema.class {}
WebhookEndpointSchema.setClass(WebhookEndpoint);

export const DELIVERY_STATUSES = ['delivered', 'retrying', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * One attempt of one delivery (table `webhook_deliveries`, tenant database; deleted with its endpoint).
 * The id is the delivery's webhook id and the attempt number, so an attempt repeated after a lost lease
 * overwrites its own line instead of adding one.
 */
export const WebhookAttemptSchema = defineEntity({
  name: 'WebhookAttempt',
  tableName: 'webhook_deliveries',
  properties: {
    id: p.string().primary(),
    endpointId: p.uuid(),
    webhookId: p.string(),
    eventType: p.string(),
    reportId: p.string(),
    attempt: p.integer(),
    status: p.enum(DELIVERY_STATUSES),
    responseStatus: p.integer().nullable(),
    at: p.datetime(),
    nextAttemptAt: p.datetime().nullable(),
  },
});

export class WebhookAttempt extends WebhookAttemptSchema.class {}
WebhookAttemptSchema.setClass(WebhookAttempt);
