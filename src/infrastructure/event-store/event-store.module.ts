import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../application/ports/event-store.port.js';
import { PARKED_EVENTS, type ParkedEvents } from '../../application/ports/parked-events.port.js';
import {
  SUBSCRIPTION_RUNTIME,
  type SubscriptionRuntime,
} from '../../application/shared/checkpointed-subscription.js';
import {
  SUBSCRIPTION_LEADERSHIP,
  type SubscriptionLeadership,
} from '../../application/ports/subscription-leadership.port.js';
import { TRACING, type Tracing } from '../../application/ports/tracing.port.js';
import { SubscriptionMonitor } from '../../application/shared/subscription-monitor.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../tenancy/control-database.js';
import { KurrentDbEventStore } from './kurrentdb-event-store.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { PostgresParkedEvents } from './postgres-parked-events.js';
import { PostgresSubscriptionLeadership } from './postgres-subscription-leadership.js';
import { isTransientDatabaseError } from './transient-errors.js';

/**
 * The event store EVENT_STORE names: PostgreSQL on DATABASE_URL (migrated; its pool closed if that fails),
 * or KurrentDB at EVENTSTORE_URL, connected lazily (a server that is down shows in readiness). With
 * KurrentDB, fenced appends of scheduled work degrade to check-then-append (ADR 0021).
 */
export const createEventStore = async (
  config: Pick<AppConfig, 'eventStore' | 'eventStoreUrl' | 'databaseUrl'>,
): Promise<EventStore & { close(): Promise<void> }> => {
  if (config.eventStore === 'eventstoredb') {
    if (!config.eventStoreUrl) throw new Error('EVENTSTORE_URL is required by EVENT_STORE=eventstoredb');
    return KurrentDbEventStore.connect(config.eventStoreUrl);
  }
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required by the PostgreSQL event store');
  return PostgresEventStore.create(config.databaseUrl);
};

/** Closes the store (its subscriptions, LISTEN connection and pool) and the leadership connection at shutdown. */
class EventStoreLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore & { close?: () => Promise<void> },
    @Inject(SUBSCRIPTION_LEADERSHIP) private readonly leadership: PostgresSubscriptionLeadership,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close?.();
    await this.leadership.close();
  }
}

/**
 * Provides `EVENT_STORE`: by default PostgreSQL, migrated at start-up, on the control database; with
 * EVENT_STORE=eventstoredb, KurrentDB at EVENTSTORE_URL (ADR 0021). And what every checkpointed
 * subscription of the process shares: the parked-events store (control database), the monitor behind
 * readiness' lag detail, the retry/parking policy, and leadership: one consumer per subscription across
 * instances (ADR 0014).
 */
@Global()
@Module({
  providers: [
    {
      provide: EVENT_STORE,
      inject: [APP_CONFIG],
      useFactory: createEventStore,
    },
    {
      provide: PARKED_EVENTS,
      inject: [CONTROL_DATABASE],
      useFactory: async (control: ControlDatabase): Promise<ParkedEvents> => {
        const parked = new PostgresParkedEvents(control.pool);
        await parked.migrate();
        return parked;
      },
    },
    SubscriptionMonitor,
    {
      provide: SUBSCRIPTION_LEADERSHIP,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new PostgresSubscriptionLeadership({ connectionString: config.databaseUrl, keepAlive: true }),
    },
    {
      provide: SUBSCRIPTION_RUNTIME,
      inject: [
        APP_CONFIG,
        PARKED_EVENTS,
        SubscriptionMonitor,
        SUBSCRIPTION_LEADERSHIP,
        { token: TRACING, optional: true },
      ],
      useFactory: (
        config: AppConfig,
        parked: ParkedEvents,
        monitor: SubscriptionMonitor,
        leadership: SubscriptionLeadership,
        tracing: Tracing | undefined,
      ): SubscriptionRuntime => ({
        leadership,
        ...(tracing ? { tracing } : {}),
        maxAttempts: config.subscriptions.maxAttempts,
        retryDelayMs: 200,
        maxRetryDelayMs: config.subscriptions.retryCapMs,
        parked,
        monitor,
        isTransient: isTransientDatabaseError,
      }),
    },
    EventStoreLifecycle,
  ],
  exports: [EVENT_STORE, PARKED_EVENTS, SubscriptionMonitor, SUBSCRIPTION_RUNTIME, SUBSCRIPTION_LEADERSHIP],
})
export class EventStoreModule {}
