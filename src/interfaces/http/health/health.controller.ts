import { setTimeout } from 'node:timers/promises';
import { Controller, Get, Inject, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { EVENT_STORE, type EventStore } from '../../../application/ports/event-store.port.js';
import { LOGGER, type Logger } from '../../../application/ports/logger.port.js';
import { MESSAGE_BUS, type MessageBus } from '../../../application/ports/message-bus.port.js';
import { OBJECT_STORAGE, type ObjectStorage } from '../../../application/ports/object-storage.port.js';
import { PARKED_EVENTS, type ParkedEvents } from '../../../application/ports/parked-events.port.js';
import { SubscriptionMonitor } from '../../../application/shared/subscription-monitor.js';
import { redactSecrets } from '../../../infrastructure/logging/pino-logger.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../../../infrastructure/tenancy/control-database.js';
import { MikroOrmTenantDatabases } from '../../../infrastructure/tenancy/tenant-databases.js';
import { Public } from '../auth/public.decorator.js';
import { ApiJsonResponse } from '../openapi/openapi.js';
import { ProblemException } from '../problem/problem-details.js';
import { DrainingState } from './draining-state.js';

const CHECK_TIMEOUT_MS = 3000;
/** A key that never exists: a HEAD of it is a cheap round trip to the storage. */
const READINESS_PROBE_KEY = 'health/readiness-probe';

const checkResults = z.record(z.string(), z.looseObject({ status: z.string() }));

/** Terminus' result: every check `up`, named under `info` and `details` (503 problem+json otherwise). */
const readySchema = z.object({
  status: z.literal('ok'),
  info: checkResults.optional(),
  error: checkResults.optional(),
  details: checkResults,
});

type CheckDetails = Record<string, { status: string; message?: unknown; unreachable?: unknown }>;

/**
 * Kubernetes-style probes. Liveness looks at the process only; readiness at what a request needs: the
 * control database, the event store and object storage (never the external providers: their outages show on reports).
 * Tenant databases found unreachable are named under `tenantDatabases` but never fail readiness: one
 * tenant's outage is that tenant's (its requests answer 503), not every tenant's (ecosystem.md). So is
 * Kafka, when configured: `kafka.broker` is `up` or `down`, and readiness stays 200 while it is down.
 */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(CONTROL_DATABASE) private readonly control: ControlDatabase,
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly draining: DrainingState,
    private readonly tenantDatabases: MikroOrmTenantDatabases,
    private readonly subscriptions: SubscriptionMonitor,
    @Inject(PARKED_EVENTS) private readonly parked: ParkedEvents,
    // Only with KAFKA_BROKERS set.
    @Optional() @Inject(MESSAGE_BUS) private readonly messageBus?: MessageBus,
  ) {}

  /**
   * Detail only, never a reason to be unready (ADR 0014): per subscription of this process, how far its
   * checkpoint is behind the log, the events parked per subscription (all instances), and (PostgreSQL) the
   * open appends holding every reader back — lag counts visible events, so a stall shows only there.
   */
  private async subscriptionDetail(): Promise<Record<string, unknown>> {
    const [lag, parked, horizon] = await Promise.all([
      this.subscriptions.lag(this.events),
      this.parked.countBySubscription(),
      this.events.horizonHold?.(),
    ]);
    const parkedTotal = Object.values(parked).reduce((sum, n) => sum + n, 0);
    return { lag, parked, parkedTotal, ...(horizon ? { horizon } : {}) };
  }

  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiJsonResponse(200, z.object({ status: z.literal('ok') }), 'The process is alive')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiJsonResponse(200, readySchema, 'Ready (503 problem+json naming the failing checks otherwise)')
  async ready() {
    const messageBus = this.messageBus;
    try {
      return await this.health.check([
        this.indicators.check('shutdown').attempt(() => {
          if (this.draining.isDraining) throw new Error('shutting down');
        }),
        this.indicators
          .check('database')
          .attempt(({ signal }) => this.control.ping(signal))
          .withTimeout(CHECK_TIMEOUT_MS),
        this.indicators
          .check('eventStore')
          .attempt(async () => {
            await this.events.readAll({ maxCount: 1 });
          })
          .withTimeout(CHECK_TIMEOUT_MS),
        this.indicators.check('subscriptions').attempt(() =>
          Promise.race([
            this.subscriptionDetail(),
            setTimeout(CHECK_TIMEOUT_MS - 500, { unavailable: 'timed out' }),
          ]).catch((error: unknown) => ({
            unavailable: redactSecrets(error instanceof Error ? error.message : String(error)),
          })),
        ),
        this.indicators
          .check('objectStorage')
          .attempt(async () => {
            await this.storage.head(READINESS_PROBE_KEY);
          })
          .withTimeout(CHECK_TIMEOUT_MS),
        // Reported, never failing readiness: the log is the outbox and the relay catches up (ecosystem.md).
        ...(messageBus
          ? [
              this.indicators.check('kafka').attempt(async () => {
                const { state, error } = await messageBus.health(CHECK_TIMEOUT_MS - 500);
                return { broker: state, ...(error ? { message: redactSecrets(error) } : {}) };
              }),
            ]
          : []),
        this.indicators.check('tenantDatabases').attempt(() => {
          const unreachable = this.tenantDatabases.unreachableDatabases();
          return {
            unreachable: unreachable.map(({ tenantId, since }) => ({ tenantId, since: since.toISOString() })),
          };
        }),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const details = (error.getResponse() as { details?: CheckDetails }).details ?? {};
      const checks = Object.fromEntries(
        Object.entries(details).map(([name, check]) => [
          name,
          check.status === 'up'
            ? // The tenant outages stay visible while something else fails readiness.
              { status: 'up', ...(name === 'tenantDatabases' ? { unreachable: check.unreachable } : {}) }
            : {
                status: check.status,
                message: redactSecrets(typeof check.message === 'string' ? check.message : 'down'),
              },
        ]),
      );
      const failing = Object.entries(checks)
        .filter(([, check]) => check.status !== 'up')
        .map(([name]) => name);
      this.logger.warn({ failing }, 'not ready');
      throw new ProblemException(503, {
        detail: failing.length > 0 ? `Not ready: ${failing.join(', ')}.` : 'Shutting down.',
        extensions: { failing, checks },
      });
    }
  }
}
