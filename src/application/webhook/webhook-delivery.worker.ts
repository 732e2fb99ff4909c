import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { noTracing, reportSpanAttributes, TRACING, type Tracing } from '../ports/tracing.port.js';
import { TenantNotFound } from '../../domain/tenant/tenant.errors.js';
import {
  WEBHOOK_QUEUE,
  type WebhookDelivery,
  type WebhookFanOut,
  type WebhookQueue,
  type WebhookWork,
} from '../ports/webhook-queue.port.js';
import {
  WEBHOOK_TRANSPORT,
  type WebhookResponse,
  type WebhookTransport,
} from '../ports/webhook-transport.port.js';
import { WEBHOOK_OPTIONS, type WebhookOptions } from './webhook-options.js';
import { signatureHeaders, webhookIdOf } from './webhook-signing.js';
import { WebhooksService } from './webhooks.service.js';

/** What one attempt's answer means for the delivery. */
type Verdict = 'delivered' | 'gone' | 'failed';

const verdictOf = (response: WebhookResponse): Verdict => {
  if (response.status !== null && response.status >= 200 && response.status < 300) return 'delivered';
  if (response.status === 410) return 'gone';
  return 'failed';
};

/**
 * Works the `webhook` queue: claims due rows (fair across tenants, at most `perTenant` in flight per
 * tenant, `concurrency` per process). A fan-out row (one final event of a tenant) becomes one delivery row
 * per enabled endpoint of that tenant subscribed to the event's type, read from the tenant's database —
 * per tenant, so an unreachable tenant database delays only that tenant's fan-out (retried, never
 * given up while the tenant exists). A delivery row is POSTed once per claim — signed, 15 s at most — its attempt recorded in the
 * endpoint's delivery log, and the row moved: gone after a 2xx, a 410 (which disables the endpoint) or the
 * last attempt of the schedule; otherwise due again after the schedule's next delay. Every move is fenced
 * by the claim's lease token; the lease outlasts an attempt, so it needs no renewal. A crash mid-attempt
 * sends that attempt again after the lease expires (same webhook-id): delivery is at least once.
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
    @Optional() @Inject(TRACING) private readonly tracing: Tracing = noTracing,
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

  private start(work: WebhookWork): void {
    const attempt = (work.kind === 'fan-out' ? this.fanOut(work) : this.attempt(work))
      .catch(async (error: unknown) => {
        // Not the receiver's fault (the tenant database, the queue): the slot is freed, no attempt counted.
        const delay = this.laterMs(work.attempt);
        this.logger.warn(
          { ...context(work), err: error, retryInMs: delay },
          'webhook work failed; postponed',
        );
        await this.queue.postpone(work, delay);
      })
      .catch((error: unknown) =>
        this.logger.warn(
          { ...context(work), err: error },
          'webhook work not postponed; retried when its lease expires',
        ),
      )
      .finally(() => {
        this.running.delete(attempt);
        this.wake?.();
      });
    this.running.add(attempt);
  }

  /** The event's deliveries replace its fan-out row; a tenant database that fails retries the fan-out. */
  private async fanOut(work: WebhookFanOut): Promise<void> {
    let endpoints: string[];
    try {
      endpoints = await this.webhooks.subscribers(work.tenantId, work.eventType);
    } catch (error) {
      if (!(error instanceof TenantNotFound)) return this.retryFanOut(work, error);
      endpoints = []; // the tenant is gone: nobody to tell
    }
    const { eventId: _eventId, kind: _kind, attempt: _attempt, leaseToken: _leaseToken, ...message } = work;
    const deliveries = endpoints.map((endpointId) => ({
      ...message,
      endpointId,
      webhookId: webhookIdOf(work.eventId, endpointId),
    }));
    if (!(await this.queue.expand(work, deliveries))) return this.lost(work);
    if (deliveries.length > 0) this.nudge();
  }

  /**
   * The fan-out is never given up while the tenant exists: it follows the retry schedule and then keeps
   * its last delay, so a tenant database back after a long outage still gets its events' webhooks.
   */
  private async retryFanOut(work: WebhookFanOut, error: unknown): Promise<void> {
    const delay = this.laterMs(work.attempt);
    if (!(await this.queue.retry(work, delay))) return this.lost(work);
    const fields = { ...context(work), err: error, retryInMs: delay, attempt: work.attempt + 1 };
    if (work.attempt === 0) this.logger.warn(fields, "tenant's endpoints unreadable; fan-out retried");
    else this.logger.debug(fields, "tenant's endpoints still unreadable");
  }

  private async attempt(delivery: WebhookDelivery): Promise<void> {
    const target = await this.webhooks.target(delivery.tenantId, delivery.endpointId);
    if (!target) {
      // Deleted or disabled since the delivery was queued: nobody to send it to.
      await this.queue.finish(delivery);
      return;
    }
    const at = new Date();
    const number = delivery.attempt + 1;
    // A span of the report's trace: the HTTP client span under it carries that trace to the receiver.
    const response = await this.tracing.inSpan(
      'webhook deliver',
      {
        ...(delivery.traceparent ? { traceparent: delivery.traceparent } : {}),
        attributes: {
          ...reportSpanAttributes(delivery.tenantId, delivery.reportId),
          'conflux.webhook.attempt': number,
        },
      },
      () =>
        this.transport.send({
          url: target.url,
          body: delivery.body,
          headers: {
            ...signatureHeaders(delivery.webhookId, at, delivery.body, target.secrets),
            ...(delivery.traceparent ? { traceparent: delivery.traceparent } : {}),
          },
          timeoutMs: this.options.timeoutMs,
        }),
    );
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

  /** The schedule's delay after `attempts` tries, its last one beyond its end (ms). */
  private laterMs(attempts: number): number {
    const schedule = this.options.retryScheduleMs;
    return schedule[Math.min(attempts, schedule.length - 1)] ?? 0;
  }

  private lost(work: WebhookWork): void {
    this.logger.info(context(work), 'lease lost: another claim owns this row');
  }
}

/** What every log line of webhook work carries: never the URL (it may hold credentials) or a secret. */
const context = (w: WebhookWork) => ({
  tenantId: w.tenantId,
  reportId: w.reportId,
  ...(w.kind === 'fan-out' ? { eventId: w.eventId } : { endpointId: w.endpointId, webhookId: w.webhookId }),
});
