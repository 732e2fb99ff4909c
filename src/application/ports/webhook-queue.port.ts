import type { CheckpointMove } from './checkpoint-fence.port.js';
import type { Checkpoint } from './event-store.port.js';

/**
 * Durable webhook work: rows of the scheduled-work table in their own queue (`webhook`), claimed with
 * leases and fencing tokens like the report process's steps, fairly across tenants. Two kinds of row:
 * a **fan-out** (one final report event of a tenant, queued by the subscription without touching any
 * tenant database) that a worker expands into one **delivery** per subscribed endpoint. A delivery stays
 * until it succeeded or was given up; each failed attempt moves it to its next due time. No timer lives
 * in memory: a restart resumes from the table.
 */
export const WEBHOOK_QUEUE = Symbol('WebhookQueue');

/** What every attempt sends: the same bytes, so the same signature input. */
type Message = Readonly<{
  tenantId: string;
  reportId: string;
  /** `report.ready` | `report.failed` | `report.cancelled`. */
  eventType: string;
  /** The JSON body, serialised once. */
  body: string;
  /** W3C traceparent of the request that created the report. */
  traceparent?: string;
}>;

/** A final report event to fan out to the tenant's endpoints. */
export type NewWebhookEvent = Message & Readonly<{ eventId: string }>;

/** One event to one endpoint. */
export type NewWebhookDelivery = Message &
  Readonly<{
    endpointId: string;
    /** Standard Webhooks `webhook-id`: the same for every attempt of this event to this endpoint. */
    webhookId: string;
  }>;

type Claim = Readonly<{
  /** Attempts made before this claim (0 for the first). */
  attempt: number;
  /** Fencing token of this claim. */
  leaseToken: number;
}>;

export type WebhookWork =
  | (Readonly<{ kind: 'fan-out' }> & NewWebhookEvent & Claim)
  | (Readonly<{ kind: 'deliver' }> & NewWebhookDelivery & Claim);

export type WebhookFanOut = Extract<WebhookWork, { kind: 'fan-out' }>;
export type WebhookDelivery = Extract<WebhookWork, { kind: 'deliver' }>;

export interface WebhookQueue {
  /**
   * Queues the events' fan-outs (one already there is left alone) and stores the subscription's
   * checkpoint, in one transaction: a crash neither loses nor duplicates one. The checkpoint move is fenced
   * (compare-and-set, checkpoint-fence.port.ts): when the stored checkpoint is no longer `move.after`, it
   * rejects with CheckpointMoved and queues nothing.
   */
  schedule(subscription: string, move: CheckpointMove, events: readonly NewWebhookEvent[]): Promise<void>;
  checkpoint(subscription: string): Promise<Checkpoint | undefined>;
  /**
   * Claims up to `limit` due rows, fairly across tenants, with no tenant holding more than `perTenant`
   * leases at once (across instances).
   */
  claimDue(owner: string, limit: number, leaseMs: number, perTenant: number): Promise<WebhookWork[]>;
  /**
   * Replaces the held fan-out by its deliveries (due now), in one transaction; false — and no change —
   * when this claim no longer holds the row.
   */
  expand(fanOut: WebhookFanOut, deliveries: readonly NewWebhookDelivery[]): Promise<boolean>;
  /**
   * One more attempt made: the row falls due again after `delayMs`, lease released. Answers the new due
   * time (database clock), or null — and no change — when this claim no longer holds the row.
   */
  retry(work: WebhookWork, delayMs: number): Promise<Date | null>;
  /**
   * The work could not be done now for a reason that is not the receiver's (its tenant database is
   * unreachable): due again after `delayMs`, lease released, no attempt counted. False when this claim no
   * longer held the row.
   */
  postpone(work: WebhookWork, delayMs: number): Promise<boolean>;
  /** The row is done with (delivered, or given up): it goes. False when this claim no longer held it. */
  finish(work: WebhookWork): Promise<boolean>;
  /** Milliseconds until the next row falls due (0 when one is due), or null when none is queued. */
  nextDueInMs(): Promise<number | null>;
}
