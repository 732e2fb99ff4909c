import { Global, Module } from '@nestjs/common';
import { EVENT_STORE, type EventStore } from '../../application/ports/event-store.port.js';
import { METRICS } from '../../application/ports/metrics.port.js';
import { PARKED_EVENTS, type ParkedEvents } from '../../application/ports/parked-events.port.js';
import { TRACING } from '../../application/ports/tracing.port.js';
import { SubscriptionMonitor } from '../../application/shared/subscription-monitor.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { countScheduledWork } from '../scheduling/scheduled-work-stats.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../tenancy/control-database.js';
import { OtelTracing } from './otel-tracing.js';
import { PrometheusMetrics } from './prometheus-metrics.js';
import { tracingEnabled } from './tracing-enabled.js';

/**
 * Tracing (the OpenTelemetry API: recording only when the preload started the SDK) and the Prometheus
 * metrics of the process, for every module (ADR 0022). Subscriber lag comes from the SubscriptionMonitor
 * every checkpointed subscription reports its checkpoint to: a new consumer (relay, webhooks) appears in
 * `conflux_subscription_lag_*` by running through runCheckpointedSubscription with the shared runtime.
 */
@Global()
@Module({
  providers: [
    { provide: TRACING, useFactory: () => new OtelTracing(tracingEnabled(process.env)) },
    {
      provide: PrometheusMetrics,
      inject: [APP_CONFIG, CONTROL_DATABASE, EVENT_STORE, SubscriptionMonitor, PARKED_EVENTS],
      useFactory: (
        config: AppConfig,
        control: ControlDatabase,
        store: EventStore,
        monitor: SubscriptionMonitor,
        parked: ParkedEvents,
      ) =>
        new PrometheusMetrics(
          { perTenant: config.metrics.perTenant, scrapeCacheMs: config.metrics.scrapeCacheMs },
          {
            scheduledWork: () => countScheduledWork(control.pool),
            subscriptionLag: () => monitor.lag(store),
            parked: () => parked.countBySubscription(),
          },
        ),
    },
    { provide: METRICS, useExisting: PrometheusMetrics },
  ],
  exports: [TRACING, METRICS, PrometheusMetrics],
})
export class ObservabilityModule {}
