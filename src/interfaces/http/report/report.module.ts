import { Module } from '@nestjs/common';
import { CLOCK, systemClock } from '../../../application/ports/clock.port.js';
import { CancelReportRequestHandler } from '../../../application/report/commands/cancel-report.handler.js';
import { DecideReportHandler } from '../../../application/report/commands/decide-report.handler.js';
import { RequestNewReportHandler } from '../../../application/report/commands/request-report.handler.js';
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
import { ReportProcessModule } from '../../../infrastructure/scheduling/report-process.module.js';
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
      clientOptionsFrom: { inject: [APP_CONFIG], useFactory: (config: AppConfig) => config.providerClient },
    }),
    ReportProcessModule,
  ],
  controllers: [ReportsController, FilesController, ProvidersController],
  providers: [
    { provide: CLOCK, useValue: systemClock },
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
    LiveReportEvents,
    ReportEventStream,
  ],
  exports: [ReportProjector],
})
export class ReportModule {}
