import type { EntityManager } from '@mikro-orm/postgresql';
import { Inject, Injectable } from '@nestjs/common';
import { WebhookDeliveryNotFound, WebhookNotFound } from '../../domain/webhook/webhook.errors.js';
import type { WebhookEventType } from '../delivery/report-notification.js';
import { SECRET_CIPHER, type SecretCipher } from '../ports/secret-cipher.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { WEBHOOK_TRANSPORT, type WebhookTransport } from '../ports/webhook-transport.port.js';
import { uuidv7 } from '../shared/uuidv7.js';
import { WEBHOOK_OPTIONS, type WebhookOptions } from './webhook-options.js';
import { newWebhookSecret } from './webhook-signing.js';
import {
  WebhookAttempt,
  WebhookEndpoint,
  type DeliveryStatus,
  type WebhookStatus,
} from './webhook.entities.js';

export type NewWebhookEndpoint = Readonly<{
  url: string;
  events: readonly WebhookEventType[];
  description: string | null;
}>;

/** An endpoint as the API shows it (api.md "Webhooks"): never its secret, except `WithSecret` below. */
export type WebhookEndpointView = Readonly<{
  id: string;
  url: string;
  events: string[];
  description: string | null;
  status: WebhookStatus;
  createdAt: string;
}>;

/** The answer of create and rotate: the only times the secret is shown. */
export type WebhookEndpointWithSecret = WebhookEndpointView & Readonly<{ secret: string }>;

export type WebhookAttemptView = Readonly<{
  id: string;
  eventType: string;
  reportId: string;
  /** 1 for the first attempt. */
  attempt: number;
  status: DeliveryStatus;
  /** The receiver's status code; null after a timeout or network error. */
  responseStatus: number | null;
  at: string;
  nextAttemptAt: string | null;
}>;

export type Page<T> = Readonly<{ data: T[]; hasMore: boolean }>;

/** What a delivery attempt needs of its endpoint: where, and the secrets that sign (current first). */
export type DeliveryTarget = Readonly<{ url: string; secrets: string[] }>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const toView = (e: WebhookEndpoint): WebhookEndpointView => ({
  id: e.id,
  url: e.url,
  events: e.events,
  description: e.description ?? null,
  status: e.status,
  createdAt: e.createdAt.toISOString(),
});

const toAttemptView = (a: WebhookAttempt): WebhookAttemptView => ({
  id: a.id,
  eventType: a.eventType,
  reportId: a.reportId,
  attempt: a.attempt,
  status: a.status,
  responseStatus: a.responseStatus ?? null,
  at: a.at.toISOString(),
  nextAttemptAt: a.nextAttemptAt?.toISOString() ?? null,
});

/** The cipher's associated data: a secret decrypts only on its own tenant's own endpoint. */
const secretContext = (tenantId: string, endpointId: string) => `webhook:${tenantId}/${endpointId}`;

/**
 * Webhook endpoints of a tenant (its own database: another tenant's ids are simply not found) and their
 * delivery log. Secrets are generated here, encrypted before they are stored, and returned only by
 * `create` and `rotateSecret`.
 */
@Injectable()
export class WebhooksService {
  constructor(
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(SECRET_CIPHER) private readonly cipher: SecretCipher,
    @Inject(WEBHOOK_TRANSPORT) private readonly transport: WebhookTransport,
    @Inject(WEBHOOK_OPTIONS) private readonly options: WebhookOptions,
  ) {}

  /** Rejects with WebhookUrlRefused when the URL is not one deliveries may call (SSRF guard). */
  async create(tenantId: string, input: NewWebhookEndpoint): Promise<WebhookEndpointWithSecret> {
    await this.transport.checkTarget(input.url);
    const id = uuidv7();
    const secret = newWebhookSecret();
    const endpoint = await this.databases.transactional(tenantId, async (em) => {
      const created = em.create(WebhookEndpoint, {
        id,
        url: input.url,
        events: [...input.events],
        description: input.description,
        status: 'enabled',
        secretEncrypted: this.cipher.encrypt(secret, secretContext(tenantId, id)),
        previousSecretEncrypted: null,
        previousSecretExpiresAt: null,
        createdAt: new Date(),
      });
      await em.flush();
      return created;
    });
    return { ...toView(endpoint), secret };
  }

  /** Newest first, `limit` of them; `startingAfter` is an endpoint id of this tenant (else WebhookNotFound). */
  async list(tenantId: string, limit: number, startingAfter?: string): Promise<Page<WebhookEndpointView>> {
    const em = await this.databases.em(tenantId);
    const cursor = startingAfter === undefined ? {} : newerThan(await this.find(em, startingAfter));
    const rows = await em.find(WebhookEndpoint, cursor, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: limit + 1,
    });
    return { data: rows.slice(0, limit).map(toView), hasMore: rows.length > limit };
  }

  async get(tenantId: string, endpointId: string): Promise<WebhookEndpointView> {
    return toView(await this.find(await this.databases.em(tenantId), endpointId));
  }

  /** Deletes the endpoint and its delivery log; its queued deliveries are dropped when they fall due. */
  async delete(tenantId: string, endpointId: string): Promise<void> {
    await this.databases.transactional(tenantId, async (em) => {
      em.remove(await this.find(em, endpointId));
      await em.flush();
    });
  }

  /** A new secret signs from now on; the one it replaces keeps signing too, for 24 h (second signature). */
  async rotateSecret(tenantId: string, endpointId: string): Promise<WebhookEndpointWithSecret> {
    const secret = newWebhookSecret();
    const endpoint = await this.databases.transactional(tenantId, async (em) => {
      const found = await this.find(em, endpointId);
      found.previousSecretEncrypted = found.secretEncrypted;
      found.previousSecretExpiresAt = new Date(Date.now() + this.options.rotationOverlapMs);
      found.secretEncrypted = this.cipher.encrypt(secret, secretContext(tenantId, endpointId));
      await em.flush();
      return found;
    });
    return { ...toView(endpoint), secret };
  }

  /** The endpoint's attempts, newest first; `startingAfter` is an attempt id of this endpoint. */
  async deliveries(
    tenantId: string,
    endpointId: string,
    limit: number,
    startingAfter?: string,
  ): Promise<Page<WebhookAttemptView>> {
    const em = await this.databases.em(tenantId);
    await this.find(em, endpointId);
    let cursor = {};
    if (startingAfter !== undefined) {
      const after = await em.findOne(WebhookAttempt, { id: startingAfter, endpointId });
      if (!after) throw new WebhookDeliveryNotFound(startingAfter);
      cursor = { $or: [{ at: { $lt: after.at } }, { at: after.at, id: { $lt: after.id } }] };
    }
    const rows = await em.find(
      WebhookAttempt,
      { endpointId, ...cursor },
      { orderBy: { at: 'desc', id: 'desc' }, limit: limit + 1 },
    );
    return { data: rows.slice(0, limit).map(toAttemptView), hasMore: rows.length > limit };
  }

  /** Ids of the tenant's enabled endpoints subscribed to `type`. */
  async subscribers(tenantId: string, type: string): Promise<string[]> {
    const em = await this.databases.em(tenantId);
    const rows = await em.execute<{ id: string }[]>(
      `SELECT id FROM webhook_endpoints WHERE status = 'enabled' AND events @> ?::jsonb ORDER BY id`,
      [JSON.stringify([type])],
    );
    return rows.map((r) => r.id);
  }

  /** Where and with which secrets to deliver now; null when the endpoint is gone or disabled. */
  async target(tenantId: string, endpointId: string): Promise<DeliveryTarget | null> {
    const em = await this.databases.em(tenantId);
    const endpoint = await em.findOne(WebhookEndpoint, { id: endpointId });
    if (!endpoint || endpoint.status !== 'enabled') return null;
    const context = secretContext(tenantId, endpointId);
    const secrets = [this.cipher.decrypt(endpoint.secretEncrypted, context)];
    if (endpoint.previousSecretEncrypted && (endpoint.previousSecretExpiresAt?.getTime() ?? 0) > Date.now())
      secrets.push(this.cipher.decrypt(endpoint.previousSecretEncrypted, context));
    return { url: endpoint.url, secrets };
  }

  /** Writes one attempt's line (the same attempt again replaces its line). */
  async recordAttempt(
    tenantId: string,
    attempt: Omit<WebhookAttemptView, 'id' | 'at' | 'nextAttemptAt'> &
      Readonly<{ endpointId: string; webhookId: string; at: Date; nextAttemptAt: Date | null }>,
  ): Promise<void> {
    const em = await this.databases.em(tenantId);
    await em.upsert(WebhookAttempt, {
      id: `${attempt.webhookId}.${attempt.attempt}`,
      endpointId: attempt.endpointId,
      webhookId: attempt.webhookId,
      eventType: attempt.eventType,
      reportId: attempt.reportId,
      attempt: attempt.attempt,
      status: attempt.status,
      responseStatus: attempt.responseStatus,
      at: attempt.at,
      nextAttemptAt: attempt.nextAttemptAt,
    });
  }

  /** The receiver answered 410 Gone: no more deliveries to it until an admin creates it again. */
  async disable(tenantId: string, endpointId: string): Promise<void> {
    const em = await this.databases.em(tenantId);
    await em.nativeUpdate(WebhookEndpoint, { id: endpointId }, { status: 'disabled' });
  }

  private async find(em: EntityManager, endpointId: string): Promise<WebhookEndpoint> {
    const found = UUID.test(endpointId) ? await em.findOne(WebhookEndpoint, { id: endpointId }) : null;
    if (!found) throw new WebhookNotFound(endpointId);
    return found;
  }
}

const newerThan = (after: WebhookEndpoint) => ({
  $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }],
});
