import {
  Inject,
  Injectable,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ReportEventUnreadable } from '../../domain/report/report.errors.js';
import { TenantNotFound } from '../../domain/tenant/tenant.errors.js';
import { FINAL_REPORT_EVENTS, toReportNotification } from '../delivery/report-notification.js';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../ports/event-store.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { WEBHOOK_QUEUE, type NewWebhookDelivery, type WebhookQueue } from '../ports/webhook-queue.port.js';
import {
  runCheckpointedSubscription,
  SUBSCRIPTION_RUNTIME,
  type SubscriptionRuntime,
} from '../shared/checkpointed-subscription.js';
import { WebhookDeliveryWorker } from './webhook-delivery.worker.js';
import { webhookIdOf } from './webhook-signing.js';
import { WebhooksService } from './webhooks.service.js';

/** The subscription's name and checkpoint row: its own, which no projection rebuild resets. */
export const WEBHOOK_FAN_OUT = 'webhook-deliveries';

/**
 * Turns each final report event into one queued delivery per enabled endpoint of the event's tenant that
 * subscribed to its type: a checkpointed subscription (with leadership: one instance fans out) whose
 * checkpoint is stored in the transaction that queues the deliveries. A crash re-delivers the page and
 * the deliveries, keyed by webhook id, are not queued twice. Endpoints are read when the event is fanned
 * out: one created later does not receive earlier reports.
 */
@Injectable()
export class WebhookFanOutSubscriber implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(WEBHOOK_QUEUE) private readonly queue: WebhookQueue,
    private readonly webhooks: WebhooksService,
    private readonly worker: WebhookDeliveryWorker,
    @Inject(LOGGER) logger: Logger,
    @Optional() @Inject(SUBSCRIPTION_RUNTIME) private readonly runtime: SubscriptionRuntime = {},
  ) {
    this.logger = logger.child({ component: 'webhook-fan-out' });
  }

  onApplicationBootstrap(): void {
    this.running = runCheckpointedSubscription(
      this.store,
      {
        name: WEBHOOK_FAN_OUT,
        filter: FINAL_REPORT_EVENTS,
        loadCheckpoint: () => this.queue.checkpoint(WEBHOOK_FAN_OUT),
        handle: async (events) => {
          const deliveries: NewWebhookDelivery[] = [];
          for (const event of events) deliveries.push(...(await this.deliveriesOf(event)));
          await this.queue.schedule(WEBHOOK_FAN_OUT, events[events.length - 1].checkpoint, deliveries);
          if (deliveries.length > 0) this.worker.nudge();
        },
        isPoison: (error) => error instanceof ReportEventUnreadable,
        skip: (event) => this.queue.schedule(WEBHOOK_FAN_OUT, event.checkpoint, []),
      },
      this.abort.signal,
      this.logger,
      this.runtime,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async deliveriesOf(event: RecordedEvent): Promise<NewWebhookDelivery[]> {
    const notification = toReportNotification(event);
    if (!notification) return [];
    let endpoints: string[];
    try {
      endpoints = await this.webhooks.subscribers(notification.tenantId, notification.webhookType);
    } catch (error) {
      if (error instanceof TenantNotFound) return []; // a tenant removed since: nobody to tell
      throw error;
    }
    const body = JSON.stringify({
      type: notification.webhookType,
      timestamp: notification.time,
      data: notification.value,
    });
    return endpoints.map((endpointId) => ({
      tenantId: notification.tenantId,
      reportId: notification.reportId,
      endpointId,
      webhookId: webhookIdOf(notification.id, endpointId),
      eventType: notification.webhookType,
      body,
      ...(notification.traceparent ? { traceparent: notification.traceparent } : {}),
    }));
  }
}
