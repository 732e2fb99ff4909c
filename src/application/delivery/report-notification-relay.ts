import {
  Inject,
  Injectable,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ReportEventUnreadable } from '../../domain/report/report.errors.js';
import { DELIVERY_CHECKPOINTS, type DeliveryCheckpoints } from '../ports/delivery-checkpoints.port.js';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../ports/event-store.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { MESSAGE_BUS, MessageBusUnavailable, type MessageBus } from '../ports/message-bus.port.js';
import { noTracing, reportSpanAttributes, TRACING, type Tracing } from '../ports/tracing.port.js';
import {
  runCheckpointedSubscription,
  SUBSCRIPTION_RUNTIME,
  type SubscriptionRuntime,
  type SubscriptionSpec,
} from '../shared/checkpointed-subscription.js';
import { toCloudEventMessage } from './cloud-event-message.js';
import { FINAL_REPORT_EVENTS, toReportNotification } from './report-notification.js';

/** The relay's subscription and checkpoint name (a delivery checkpoint: no projection rebuild moves it). */
export const REPORT_NOTIFICATION_RELAY = 'kafka-relay';

/**
 * The event log is the outbox (design.md, "Outbox"): a checkpointed subscription over the final report
 * events publishes one CloudEvents message per event and stores its checkpoint only after the broker
 * acknowledged the whole page. A crash between the two publishes the page again: at least once, with the
 * same `ce_id`. Pages go out in log order and the next waits for the previous one's acknowledgement, so
 * one report's notifications (one key) arrive in order. While the broker is down the publish fails as
 * {@link MessageBusUnavailable}, which the subscription retries with its backoff and never parks: nothing
 * is skipped, and everything goes out when the broker is back. With the runtime's leadership, one
 * instance relays at a time.
 */
@Injectable()
export class ReportNotificationRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(DELIVERY_CHECKPOINTS) private readonly checkpoints: DeliveryCheckpoints,
    @Inject(LOGGER) logger: Logger,
    // Optional: without it (tests of one process), no parking, leadership or monitoring.
    @Optional() @Inject(SUBSCRIPTION_RUNTIME) private readonly runtime: SubscriptionRuntime = {},
    @Optional() @Inject(TRACING) private readonly tracing: Tracing = noTracing,
  ) {
    this.logger = logger.child({ component: REPORT_NOTIFICATION_RELAY });
  }

  onApplicationBootstrap(): void {
    // The topic is created at start when the broker is there; when it is not, the first publish does it.
    this.bus
      .connect()
      .catch((error: unknown) =>
        this.logger.warn(
          { err: { message: error instanceof Error ? error.message : String(error) } },
          'message broker not reachable at start; the relay retries',
        ),
      );
    const baseTransient = this.runtime.isTransient;
    this.running = runCheckpointedSubscription(this.store, this.spec(), this.abort.signal, this.logger, {
      ...this.runtime,
      isTransient: (error) => error instanceof MessageBusUnavailable || (baseTransient?.(error) ?? false),
    });
  }

  private spec(): SubscriptionSpec {
    return {
      name: REPORT_NOTIFICATION_RELAY,
      filter: FINAL_REPORT_EVENTS,
      loadCheckpoint: () => this.checkpoints.load(REPORT_NOTIFICATION_RELAY),
      handle: async (events: readonly RecordedEvent[], after) => {
        const notifications = events.flatMap((event) => toReportNotification(event) ?? []);
        if (!this.tracing.enabled) {
          if (notifications.length > 0) await this.bus.publish(notifications.map(toCloudEventMessage));
        } else {
          // Traced: one publish per message, in order, each in a span of its report's trace — the Kafka
          // instrumentation writes the active span into the message's `traceparent` header.
          for (const notification of notifications)
            await this.tracing.inSpan(
              'relay publish',
              {
                ...(notification.traceparent ? { traceparent: notification.traceparent } : {}),
                attributes: reportSpanAttributes(notification.tenantId, notification.reportId),
              },
              () => this.bus.publish([toCloudEventMessage(notification)]),
            );
        }
        await this.checkpoints.store(REPORT_NOTIFICATION_RELAY, {
          after,
          to: events[events.length - 1].checkpoint,
        });
      },
      // An event that does not parse can never be published: parked (ADR 0014), then passed.
      isPoison: (error) => error instanceof ReportEventUnreadable,
      skip: (event, after) =>
        this.checkpoints.store(REPORT_NOTIFICATION_RELAY, { after, to: event.checkpoint }),
    };
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.abort.abort();
    await this.running;
    await this.bus.close();
  }
}
