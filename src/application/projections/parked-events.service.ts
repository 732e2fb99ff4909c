import { Inject, Injectable } from '@nestjs/common';
import { ReportEventUnreadable } from '../../domain/report/report.errors.js';
import { EVENT_STORE, type EventStore } from '../ports/event-store.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import {
  PARKED_EVENTS,
  ParkedEventNotFound,
  ParkedEventNotRetryable,
  ParkedEventStillFailing,
  type ParkedEvent,
  type ParkedEventAction,
  type ParkedEvents,
} from '../ports/parked-events.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { readReportEvent } from '../report/report-event-codec.js';
import { parseReportStream } from '../report/report-stream.js';
import { REPORT_VIEW_PROJECTION, reprojectReport } from '../report/projections/report-view.projection.js';

/**
 * What an operator does about parked events (issue 11; ADR 0014 parks them): list them, retry one once a
 * fix is deployed, or skip it; every action is recorded with who did it. Retry means what the parking
 * subscription needs: a tenant's reports read model re-projects the event's report from its whole stream.
 * The scheduled-work projection's parked events are not retried: parking stopped that report's work, and
 * restarting it from here could repeat provider calls — cancel or request the report again instead.
 */
@Injectable()
export class ParkedEventsService {
  private readonly logger: Logger;

  constructor(
    @Inject(PARKED_EVENTS) private readonly parked: ParkedEvents,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'parked-events' });
  }

  /** Parked events of one subscription, or of all, oldest first (100 per subscription at most). */
  async list(subscription?: string): Promise<ParkedEvent[]> {
    const names = subscription ? [subscription] : Object.keys(await this.parked.countBySubscription());
    return (await Promise.all(names.map((name) => this.parked.list(name)))).flat();
  }

  actions(): Promise<ParkedEventAction[]> {
    return this.parked.actions();
  }

  /**
   * Applies the parked event again (see the class comment) and takes it off the list.
   * @throws ParkedEventNotFound, ParkedEventNotRetryable, ParkedEventStillFailing (it stays parked)
   */
  async retry(subscription: string, eventId: string, actor: string): Promise<ParkedEventAction> {
    const event = await this.parked.get(subscription, eventId);
    if (!event) throw new ParkedEventNotFound(subscription, eventId);
    const [projection, tenantId] = subscription.split(':');
    const stream = parseReportStream(event.streamName);
    if (projection !== REPORT_VIEW_PROJECTION || !tenantId || !stream)
      throw new ParkedEventNotRetryable(subscription, 'cancel or request the report again, then skip it');
    const events = await this.store.readStream(event.streamName);
    try {
      events.forEach(readReportEvent);
    } catch (error) {
      if (error instanceof ReportEventUnreadable) throw new ParkedEventStillFailing(eventId, error.message);
      throw error;
    }
    await this.databases.transactional(tenantId, (em) => reprojectReport(em, stream.reportId, events));
    return this.resolve(event, 'retried', actor);
  }

  /** Takes the event off the list without applying it (the subscription already moved past it). */
  async skip(subscription: string, eventId: string, actor: string): Promise<ParkedEventAction> {
    const event = await this.parked.get(subscription, eventId);
    if (!event) throw new ParkedEventNotFound(subscription, eventId);
    return this.resolve(event, 'skipped', actor);
  }

  private async resolve(
    event: ParkedEvent,
    action: ParkedEventAction['action'],
    actor: string,
  ): Promise<ParkedEventAction> {
    if (!(await this.parked.resolve(event.subscription, event.eventId, action, actor)))
      throw new ParkedEventNotFound(event.subscription, event.eventId);
    this.logger.info(
      {
        subscription: event.subscription,
        eventId: event.eventId,
        streamName: event.streamName,
        action,
        actor,
      },
      `parked event ${action}`,
    );
    return { subscription: event.subscription, eventId: event.eventId, action, actor, at: new Date(), event };
  }
}
