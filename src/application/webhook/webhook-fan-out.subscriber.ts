import {
  Inject,
  Injectable,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ReportEventUnreadable } from '../../domain/report/report.errors.js';
import { FINAL_REPORT_EVENTS, toReportNotification } from '../delivery/report-notification.js';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../ports/event-store.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { WEBHOOK_QUEUE, type NewWebhookEvent, type WebhookQueue } from '../ports/webhook-queue.port.js';
import {
  runCheckpointedSubscription,
  SUBSCRIPTION_RUNTIME,
  type SubscriptionRuntime,
} from '../shared/checkpointed-subscription.js';
import { WebhookDeliveryWorker } from './webhook-delivery.worker.js';

/** The subscription's name and checkpoint row: its own, which no projection rebuild resets. */
export const WEBHOOK_FAN_OUT = 'webhook-deliveries';

/**
 * Queues each final report event for its tenant's webhooks: a checkpointed subscription (with leadership:
 * one instance does it) whose checkpoint is stored in the transaction that queues the fan-out rows. A
 * crash re-delivers the page, and a fan-out already queued (keyed by event id) is not queued twice. It
 * reads no tenant database: which endpoints get the event is decided when the fan-out row is worked
 * (WebhookDeliveryWorker), per tenant, so one tenant's unreachable database cannot stall the others.
 */
@Injectable()
export class WebhookFanOutSubscriber implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(WEBHOOK_QUEUE) private readonly queue: WebhookQueue,
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
        handle: async (events, after) => {
          const queued = events.flatMap((event) => webhookEventOf(event) ?? []);
          await this.queue.schedule(
            WEBHOOK_FAN_OUT,
            { after, to: events[events.length - 1].checkpoint },
            queued,
          );
          if (queued.length > 0) this.worker.nudge();
        },
        isPoison: (error) => error instanceof ReportEventUnreadable,
        skip: (event, after) => this.queue.schedule(WEBHOOK_FAN_OUT, { after, to: event.checkpoint }, []),
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
}

/** The webhook message of a final report event (api.md: `{ type, timestamp, data }`); null for others. */
const webhookEventOf = (event: RecordedEvent): NewWebhookEvent | null => {
  const notification = toReportNotification(event);
  if (!notification) return null;
  return {
    tenantId: notification.tenantId,
    reportId: notification.reportId,
    eventId: notification.id,
    eventType: notification.webhookType,
    body: JSON.stringify({
      type: notification.webhookType,
      timestamp: notification.time,
      data: notification.value,
    }),
    ...(notification.traceparent ? { traceparent: notification.traceparent } : {}),
  };
};
