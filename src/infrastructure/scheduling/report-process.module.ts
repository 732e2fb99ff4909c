import { Module } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../application/ports/event-store.port.js';
import { SCHEDULED_WORK } from '../../application/ports/scheduled-work.port.js';
import { PROCESS_OPTIONS } from '../../application/report/process/process-options.js';
import { ReportWorker } from '../../application/report/process/report-worker.js';
import { ScheduledWorkSubscriber } from '../../application/report/process/scheduled-work.subscriber.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { ReportDocumentsModule } from '../report-documents/report-documents.module.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../tenancy/control-database.js';
import { PostgresScheduledWork } from './postgres-scheduled-work.js';

/**
 * The report process manager on its own: the scheduled-work table and its projection, and the leased
 * worker. It needs the event store, object storage, the provider registry and the command bus (with the
 * DecideReport handler) from the application; it serves no HTTP.
 */
@Module({
  imports: [ReportDocumentsModule],
  providers: [
    {
      provide: SCHEDULED_WORK,
      inject: [CONTROL_DATABASE, EVENT_STORE],
      // The PostgreSQL event store and the control database are both DATABASE_URL: fenced appends share
      // the row's transaction (ADR 0013). Any other store (KurrentDB) gets check-then-append (ADR 0021).
      useFactory: async (control: ControlDatabase, store: EventStore) => {
        const work = new PostgresScheduledWork(control.pool, store);
        await work.migrate();
        return work;
      },
    },
    { provide: PROCESS_OPTIONS, inject: [APP_CONFIG], useFactory: (config: AppConfig) => config.process },
    ReportWorker,
    ScheduledWorkSubscriber,
  ],
  exports: [ReportWorker],
})
export class ReportProcessModule {}
