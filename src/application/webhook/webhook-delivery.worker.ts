import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { WEBHOOK_QUEUE, type WebhookDelivery, type WebhookQueue } from '../ports/webhook-queue.port.js';
import {
  WEBHOOK_TRANSPORT,
  type WebhookResponse,
  type WebhookTransport,
} from '../ports/webhook-transport.port.js';
import { WEBHOOK_OPTIONS, type WebhookOptions } from './webhook-options.js';
import { signatureHeaders } from './webhook-signing.js';
import { WebhooksService } from './webhooks.service.js';

/** What one attempt's answer means for the delivery. */
type Verdict = 'delivered' | 'gone' | 'failed';

const verdictOf = (response: WebhookResponse): Verdict => {
  if (response.status !== null && response.status >= 200 && response.status < 300) return 'delivered';
  if (response.status === 410) return 'gone';
  return 'failed';
};

/**
 * Sends the queued webhook deliveries: claims due rows of the `webhook` queue (fair across tenants, at
 * most `perTenant` in flight per tenant, `concurrency` per process), POSTs each once — signed, 15 s at
 * most — records the attempt in the endpoint's delivery log and moves the row: gone after a 2xx, a 410
 * (which disables the endpoint) or the last attempt of the schedule; otherwise due again after the
 * schedule's next delay. The row's move is fenced by the claim's lease token; the lease outlasts an
 * attempt, so it needs no renewal. A crash mid-attempt sends that attempt again after the lease expires
 * (same webhook-id): delivery is at least once.
 */
@Injectable()
export class WebhookDeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly owner = `webhooks-${randomUUID()}`;
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    @Inject(WEBHOOK_QUEUE) private readonly queue: WebhookQueue,
    @Inject(WEBHOOK_TRANSPORT) private readonly transport: WebhookTransport,
    @Inject(WEBHOOK_OPTIONS) private readonly options: WebhookOptions,
    private readonly webhooks: WebhooksService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'webhook-delivery' });
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  /** Stops claiming and lets the attempts in flight finish (each ends within the timeout). */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  /** Looks for due deliveries now (the fan-out just queued some). */
  nudge(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const free = this.options.concurrency - this.running.size;
        if (free > 0) {
          const claimed = await this.queue.claimDue(
            this.owner,
            free,
            this.options.leaseMs,
            this.options.perTenant,
          );
          for (const delivery of claimed) this.start(delivery);
        }
        const next = await this.queue.nextDueInMs();
        await this.sleep(next === null ? 250 : Math.min(250, Math.max(10, next)));
      } catch (error) {
        this.logger.error({ err: error }, 'delivery loop failed; retrying in 1 s');
        await this.sleep(1000);
      }
    }
    await Promise.all(this.running);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private start(delivery: WebhookDelivery): void {
    const attempt = this.attempt(delivery)
      .catch((error: unknown) =>
        // The row stays leased until its lease expires, then the attempt is made again.
        this.logger.warn({ ...context(delivery), err: error }, 'delivery attempt failed; it is retried'),
      )
      .finally(() => {
        this.running.delete(attempt);
        this.wake?.();
      });
    this.running.add(attempt);
  }

  private async attempt(delivery: WebhookDelivery): Promise<void> {
    const target = await this.webhooks.target(delivery.tenantId, delivery.endpointId);
    if (!target) {
      // Deleted or disabled since the delivery was queued: nobody to send it to.
      await this.queue.finish(delivery);
      return;
    }
    const at = new Date();
    const response = await this.transport.send({
      url: target.url,
      body: delivery.body,
      headers: {
        ...signatureHeaders(delivery.webhookId, at, delivery.body, target.secrets),
        ...(delivery.traceparent ? { traceparent: delivery.traceparent } : {}),
      },
      timeoutMs: this.options.timeoutMs,
    });
    const number = delivery.attempt + 1;
    const verdict = verdictOf(response);
    const delay = this.options.retryScheduleMs[delivery.attempt];
    let nextAttemptAt: Date | null = null;
    if (verdict === 'failed' && delay !== undefined) {
      nextAttemptAt = await this.queue.retry(delivery, delay);
      if (!nextAttemptAt) return this.lost(delivery);
    } else if (!(await this.queue.finish(delivery))) return this.lost(delivery);
    if (verdict === 'gone') await this.webhooks.disable(delivery.tenantId, delivery.endpointId);
    const status = verdict === 'delivered' ? 'delivered' : nextAttemptAt ? 'retrying' : 'failed';
    const fields = { ...context(delivery), attempt: number, responseStatus: response.status };
    if (status === 'delivered') this.logger.debug(fields, 'webhook delivered');
    else
      this.logger.info(
        { ...fields, ...(response.status === null ? { error: response.error } : {}), status },
        verdict === 'gone' ? 'receiver answered 410: endpoint disabled' : 'webhook attempt failed',
      );
    await this.webhooks
      .recordAttempt(delivery.tenantId, {
        endpointId: delivery.endpointId,
        webhookId: delivery.webhookId,
        eventType: delivery.eventType,
        reportId: delivery.reportId,
        attempt: number,
        status,
        responseStatus: response.status,
        at,
        nextAttemptAt,
      })
      .catch((error: unknown) =>
        // The row has moved already (the truth); a lost log line (the endpoint was just deleted, the
        // tenant database went away) must not repeat the attempt.
        this.logger.warn({ ...context(delivery), err: error }, 'delivery log line not written'),
      );
  }

  private lost(delivery: WebhookDelivery): void {
    this.logger.info(context(delivery), 'lease lost: another claim owns this delivery');
  }
}

/** What every log line of a delivery carries: never the URL (it may hold credentials) or a secret. */
const context = (d: WebhookDelivery) => ({
  tenantId: d.tenantId,
  reportId: d.reportId,
  endpointId: d.endpointId,
  webhookId: d.webhookId,
});
