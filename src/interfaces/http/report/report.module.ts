import { Module } from '@nestjs/common';
import { CONTROL_DATABASE, type ControlDatabase } from '../../../infrastructure/tenancy/control-database.js';
import { CLOCK, systemClock } from '../../../application/ports/clock.port.js';
import { SCHEDULED_WORK } from '../../../application/ports/scheduled-work.port.js';
import { CancelReportRequestHandler } from '../../../application/report/commands/cancel-report.handler.js';
import { DecideReportHandler } from '../../../application/report/commands/decide-report.handler.js';
import { RequestNewReportHandler } from '../../../application/report/commands/request-report.handler.js';
import { PROCESS_OPTIONS } from '../../../application/report/process/process-options.js';
import { ReportWorker } from '../../../application/report/process/report-worker.js';
import { ScheduledWorkSubscriber } from '../../../application/report/process/scheduled-work.subscriber.js';
import {
  FollowProvisionedTenant,
  ReportProjector,
} from '../../../application/report/projections/report-projector.js';
import { LiveReportEvents } from '../../../application/report/live-report-events.js';
import { ReportQueries } from '../../../application/report/queries/report.queries.js';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';
import {
  BUNDLED_SIMULATOR,
  ProviderSimulatorModule,
  type BundledSimulator,
} from '../../../infrastructure/provider-simulator/provider-simulator.module.js';
import { ProvidersModule } from '../../../infrastructure/providers/providers.module.js';
import { PostgresScheduledWork } from '../../../infrastructure/scheduling/postgres-scheduled-work.js';
import { FilesController } from '../files/files.controller.js';
import { ProvidersController } from '../providers/providers.controller.js';
import { ReportEventStream } from './report-event-stream.js';
import { REPORT_HTTP_OPTIONS } from './report-http.options.js';
import { ReportsController } from './reports.controller.js';

/** The report feature: REST and live progress, the process manager, the read model, files and providers. */
@Module({
  imports: [
    ProvidersModule.forRootAsync({
      imports: [ProviderSimulatorModule],
      inject: [BUNDLED_SIMULATOR],
      useFactory: (simulator: BundledSimulator) => simulator.urls,
    }),
  ],
  controllers: [ReportsController, FilesController, ProvidersController],
  providers: [
    { provide: CLOCK, useValue: systemClock },
    {
      provide: SCHEDULED_WORK,
      inject: [CONTROL_DATABASE],
      useFactory: async (control: ControlDatabase) => {
        const work = new PostgresScheduledWork(control.pool);
        await work.migrate();
        return work;
      },
    },
    { provide: PROCESS_OPTIONS, inject: [APP_CONFIG], useFactory: (config: AppConfig) => config.process },
    {
      provide: REPORT_HTTP_OPTIONS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        downloadUrlTtlSeconds: config.downloadUrlTtlSeconds,
        heartbeatMs: 15_000,
      }),
    },
    DecideReportHandler,
    RequestNewReportHandler,
    CancelReportRequestHandler,
    ReportQueries,
    ReportProjector,
    FollowProvisionedTenant,
    ReportWorker,
    ScheduledWorkSubscriber,
    LiveReportEvents,
    ReportEventStream,
  ],
  exports: [ReportProjector],
})
export class ReportModule {}
