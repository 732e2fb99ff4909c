import type { Checkpoint } from './event-store.port.js';

/**
 * Durable webhook deliveries: rows of the scheduled-work table in their own queue (`webhook`), claimed with
 * leases and fencing tokens like the report process's steps, fairly across tenants. A row is one delivery
 * (one event to one endpoint); it stays until the delivery succeeded or was given up, and each failed
 * attempt moves it to the next due time. No timer lives in memory: a restart resumes from the table.
 */
export const WEBHOOK_QUEUE = Symbol('WebhookQueue');

export type NewWebhookDelivery = Readonly<{
  tenantId: string;
  reportId: string;
  endpointId: string;
  /** Standard Webhooks `webhook-id`: the same for every attempt of this event to this endpoint. */
  webhookId: string;
  /** `report.ready` | `report.failed` | `report.cancelled`. */
  eventType: string;
  /** The JSON body, serialised once: every attempt sends (and signs) the same bytes. */
  body: string;
  /** W3C traceparent of the request that created the report. */
  traceparent?: string;
}>;

export type WebhookDelivery = NewWebhookDelivery &
  Readonly<{
    /** Attempts made before this claim (0 for the first). */
    attempt: number;
    /** Fencing token of this claim. */
    leaseToken: number;
  }>;

export interface WebhookQueue {
  /**
   * Adds the deliveries (a delivery already there is left alone) and stores the subscription's
   * checkpoint, in one transaction: a crash neither loses nor duplicates one.
   */
  schedule(
    subscription: string,
    checkpoint: Checkpoint,
    deliveries: readonly NewWebhookDelivery[],
  ): Promise<void>;
  checkpoint(subscription: string): Promise<Checkpoint | undefined>;
  /**
   * Claims up to `limit` due deliveries, fairly across tenants, with no tenant holding more than
   * `perTenant` leases at once (across instances).
   */
  claimDue(owner: string, limit: number, leaseMs: number, perTenant: number): Promise<WebhookDelivery[]>;
  /**
   * One more attempt made: the delivery falls due again after `delayMs`, lease released. Answers the new
   * due time (database clock), or null — and no change — when this claim no longer holds the row.
   */
  retry(delivery: WebhookDelivery, delayMs: number): Promise<Date | null>;
  /** The delivery is over (delivered or given up): the row goes. False when this claim no longer held it. */
  finish(delivery: WebhookDelivery): Promise<boolean>;
  /** Milliseconds until the next delivery falls due (0 when one is due), or null when none is queued. */
  nextDueInMs(): Promise<number | null>;
}
