import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import { Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CONTROL_DATABASE, type ControlDatabase } from '../../../infrastructure/tenancy/control-database.js';
import { OBJECT_STORAGE } from '../../../application/ports/object-storage.port.js';
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
import { ReportQueries } from '../../../application/report/queries/report.queries.js';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';
import {
  BUNDLED_SIMULATOR,
  ProviderSimulatorModule,
  type BundledSimulator,
} from '../../../infrastructure/provider-simulator/provider-simulator.module.js';
import { ProvidersModule } from '../../../infrastructure/providers/providers.module.js';
import { PostgresScheduledWork } from '../../../infrastructure/scheduling/postgres-scheduled-work.js';
import { LocalObjectStorage } from '../../../infrastructure/storage/local-object-storage.js';
import { FilesController } from '../files/files.controller.js';
import { ProvidersController } from '../providers/providers.controller.js';
import { ReportEventStream } from './report-event-stream.js';
import { REPORT_HTTP_OPTIONS } from './report-http.options.js';
import { ReportsController } from './reports.controller.js';

/** The port the server really listens on (PORT=0 picks one). */
const listeningPort = (host: HttpAdapterHost): number | undefined => {
  const address = (host.httpAdapter?.getHttpServer() as Server | undefined)?.address();
  return typeof address === 'object' && address ? address.port : undefined;
};

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
    {
      provide: LocalObjectStorage,
      inject: [APP_CONFIG, HttpAdapterHost],
      useFactory: (config: AppConfig, http: HttpAdapterHost) =>
        new LocalObjectStorage({
          rootDir: `${config.dataDir}/objects`,
          // A key of its own, derived from the JWT secret: a download signature can never pass as a token.
          secret: createHmac('sha256', config.secrets.jwtSecret).update('conflux:download-urls').digest(),
          publicBaseUrl: () => config.publicUrl ?? `http://localhost:${listeningPort(http) ?? config.port}`,
        }),
    },
    { provide: OBJECT_STORAGE, useExisting: LocalObjectStorage },
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
    ReportEventStream,
  ],
  exports: [ReportProjector],
})
export class ReportModule {}
