import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import type { Logger } from './application/ports/logger.port.js';
import type { AppConfig } from './infrastructure/config/app-config.js';
import { ConfigModule } from './infrastructure/config/config.module.js';
import { EventStoreModule } from './infrastructure/event-store/event-store.module.js';
import { KafkaRelayModule } from './infrastructure/messaging/kafka-relay.module.js';
import { ObservabilityModule } from './infrastructure/observability/observability.module.js';
import { StorageModule } from './infrastructure/storage/storage.module.js';
import { TenancyModule } from './infrastructure/tenancy/tenancy.module.js';
import { AdminModule } from './interfaces/http/admin/admin.module.js';
import { AsyncApiModule } from './interfaces/http/asyncapi/asyncapi.controller.js';
import { AuthModule } from './interfaces/http/auth/auth.module.js';
import { HealthModule } from './interfaces/http/health/health.module.js';
import { MetricsModule } from './interfaces/http/metrics/metrics.module.js';
import { ProblemFilter } from './interfaces/http/problem/problem.filter.js';
import { ReportModule } from './interfaces/http/report/report.module.js';
import { TenantModule } from './interfaces/http/tenant/tenant.module.js';
import { WebhookModule } from './interfaces/http/webhook/webhook.module.js';

/** The whole application; `createApp` (src/app.ts) builds it from a validated config. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, logger),
        CqrsModule.forRoot(),
        EventStoreModule,
        TenancyModule,
        ObservabilityModule,
        StorageModule,
        AuthModule,
        TenantModule,
        HealthModule,
        MetricsModule,
        ReportModule,
        AdminModule,
        WebhookModule,
        AsyncApiModule,
        ...(config.kafkaBrokers.length > 0 ? [KafkaRelayModule] : []),
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    };
  }
}
