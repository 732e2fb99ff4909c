import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { TenantProvisioned } from '../../tenant/tenant-provisioned.event.js';
import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { ReportEventUnreadable } from '../../../domain/report/report.errors.js';
import { LOGGER, type Logger } from '../../ports/logger.port.js';
import { EVENT_STORE, type EventStore } from '../../ports/event-store.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../../ports/tenant-databases.port.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../../ports/tenant-directory.port.js';
import {
  runCheckpointedSubscription,
  SUBSCRIPTION_RUNTIME,
  type SubscriptionRuntime,
} from '../../shared/checkpointed-subscription.js';
import { REPORT_CATEGORY } from '../report-stream.js';
import {
  REPORT_VIEW_PROJECTION,
  loadProjectionCheckpoint,
  projectReportEvents,
  skipReportEvent,
} from './report-view.projection.js';

const TENANT_RESCAN_MS = 30_000;

/**
 * Keeps every tenant's reports read model up to date: one checkpointed subscription per tenant, filtered
 * by tenant, whose checkpoint lives in that tenant's database next to the rows it describes.
 */
@Injectable()
export class ReportProjector implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private readonly running = new Map<string, Promise<void>>();
  private rescanTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(TENANT_DIRECTORY) private readonly tenants: TenantDirectory,
    @Inject(LOGGER) logger: Logger,
    // Optional: without it (tests of one process), no parking, leadership or monitoring.
    @Optional() @Inject(SUBSCRIPTION_RUNTIME) private readonly runtime: SubscriptionRuntime = {},
  ) {
    this.logger = logger.child({ component: 'report-projector' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.rescan();
    // A tenant created on another instance is announced only there (TenantProvisioned is in-process):
    // every instance rescans the directory, so each learns of it within a minute (issue 8, item 4).
    this.rescanTimer = setInterval(() => {
      this.rescan().catch((error: unknown) => this.logger.warn({ err: error }, 'tenant rescan failed'));
    }, TENANT_RESCAN_MS);
    this.rescanTimer.unref();
  }

  private async rescan(): Promise<void> {
    for (const tenant of await this.tenants.list()) if (tenant.status === 'active') this.follow(tenant.id);
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.rescanTimer);
    this.abort.abort();
    await Promise.all(this.running.values());
  }

  /** Starts projecting a tenant's reports (idempotent); called at start-up and when a tenant is created. */
  follow(tenantId: string): void {
    if (this.running.has(tenantId) || this.abort.signal.aborted) return;
    const run = runCheckpointedSubscription(
      this.store,
      {
        name: `${REPORT_VIEW_PROJECTION}:${tenantId}`,
        filter: { categories: [REPORT_CATEGORY], tenantId },
        loadCheckpoint: async () => loadProjectionCheckpoint(await this.databases.em(tenantId)),
        handle: (events, after) =>
          this.databases.transactional(tenantId, (em) => projectReportEvents(em, events, after)),
        skip: (event, after) =>
          this.databases.transactional(tenantId, (em) => skipReportEvent(em, event, after)),
        isPoison: (error) => error instanceof ReportEventUnreadable,
      },
      this.abort.signal,
      this.logger,
      this.runtime,
    );
    this.running.set(tenantId, run);
  }
}

/** A new tenant's reports are projected from its first event on. */
@EventsHandler(TenantProvisioned)
export class FollowProvisionedTenant implements IEventHandler<TenantProvisioned> {
  constructor(private readonly projector: ReportProjector) {}

  handle({ tenantId }: TenantProvisioned): void {
    this.projector.follow(tenantId);
  }
}
