/** Tunables of webhook delivery (app-config: WEBHOOK_RETRY_SCHEDULE, WEBHOOK_CONCURRENCY). */
export const WEBHOOK_OPTIONS = Symbol('WebhookOptions');

export type WebhookOptions = Readonly<{
  /** Delays (ms) between attempts after the first; one attempt more than entries, then the delivery fails. */
  retryScheduleMs: readonly number[];
  /** Deliveries in flight per process. */
  concurrency: number;
  /** Deliveries in flight for one tenant (across instances): a tenant's dead receiver cannot take every slot. */
  perTenant: number;
  /** One attempt, connect to response (api.md: 15 s). */
  timeoutMs: number;
  /** How long a claim holds its row: longer than an attempt can take (timeout + logging), so no renewal. */
  leaseMs: number;
  /** How long the previous secret keeps signing after a rotation (24 h). */
  rotationOverlapMs: number;
}>;

export const webhookOptions = (
  config: Readonly<{ retryScheduleMs: readonly number[]; concurrency: number }>,
): WebhookOptions => ({
  retryScheduleMs: config.retryScheduleMs,
  concurrency: config.concurrency,
  perTenant: Math.max(1, Math.floor(config.concurrency / 2)),
  timeoutMs: 15_000,
  leaseMs: 45_000,
  rotationOverlapMs: 24 * 3_600_000,
});
