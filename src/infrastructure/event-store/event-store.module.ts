import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../application/ports/event-store.port.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { PostgresEventStore } from './postgres-event-store.js';

/** Closes the store (its subscriptions, LISTEN connection and pool) when the application shuts down. */
class EventStoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore & { close?: () => Promise<void> }) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close?.();
  }
}

/** Provides `EVENT_STORE`, migrated at start-up, on the control database. */
@Global()
@Module({
  providers: [
    {
      provide: EVENT_STORE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<EventStore> => {
        if (config.eventStore !== 'postgres')
          throw new Error(`EVENT_STORE=${config.eventStore} has no adapter yet; use EVENT_STORE=postgres`);
        if (!config.databaseUrl) throw new Error('DATABASE_URL is required by the PostgreSQL event store');
        return PostgresEventStore.create(config.databaseUrl); // migrates; closes its pool if that fails
      },
    },
    EventStoreLifecycle,
  ],
  exports: [EVENT_STORE],
})
export class EventStoreModule {}
