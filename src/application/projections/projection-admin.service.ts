import {
  Inject,
  Injectable,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { TenantNotFound } from '../../domain/tenant/tenant.errors.js';
import { EVENT_STORE, type Checkpoint, type EventStore, type LogFilter } from '../ports/event-store.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { PARKED_EVENTS, type ParkedEvents } from '../ports/parked-events.port.js';
import {
  PROJECTION_REBUILDS,
  ProjectionNotFound,
  ProjectionNotRebuildable,
  RebuildNotFound,
  type ProjectionRebuild,
  type ProjectionRebuilds,
} from '../ports/projection-rebuilds.port.js';
import { SCHEDULED_WORK, type ScheduledWork } from '../ports/scheduled-work.port.js';
import {
  SUBSCRIPTION_LEADERSHIP,
  type SubscriptionLeadership,
} from '../ports/subscription-leadership.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../ports/tenant-databases.port.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../ports/tenant-directory.port.js';
import { REPORT_CATEGORY } from '../report/report-stream.js';
import {
  loadProjectionCheckpoint,
  REPORT_VIEW_PROJECTION,
} from '../report/projections/report-view.projection.js';
import {
  applyRebuildPage,
  prepareReportViewRebuild,
  rebuildCheckpoint,
  switchReportView,
} from '../report/projections/report-view.rebuild.js';
import { uuidv7 } from '../shared/uuidv7.js';

const SCHEDULED_WORK_PROJECTION = 'scheduled-work';
/** How often each instance looks for running rebuilds that no one leads (their runner died elsewhere). */
const RESCAN_MS = 30_000;
const PAGE = 1000;
/** Lag is counted up to this many events (one bounded read per projection). */
const LAG_CAP = 1000;

/** A projection as an operator sees it (api.md `GET /v1/admin/projections`). */
export type ProjectionStatus = Readonly<{
  name: string;
  /** The tenant whose read model it is; null for the global scheduled-work projection. */
  tenantId: string | null;
  status: 'live' | 'rebuilding' | 'unreachable';
  checkpoint: string | null;
  /** Events after its checkpoint not applied yet, counted up to 1,000. */
  lag: number | null;
  parked: number;
}>;

/** A rebuild as the API shows it, with its rate (events/s since it started). */
export type RebuildProgress = ProjectionRebuild & Readonly<{ eventsPerSecond: number }>;

const tenantReports = (tenantId: string): LogFilter => ({ categories: [REPORT_CATEGORY], tenantId });

/**
 * Operations on projections (issue 11): their status, and zero-downtime rebuilds of a tenant's reports read
 * model (report-view.rebuild.ts). A rebuild is recorded in the control database and run by whichever
 * instance leads it; a crash resumes it from its own checkpoint, at start-up or on another instance. It
 * only reads the log and writes its table: the Kafka relay and webhooks have their own checkpoints and
 * never see it (ADR 0023). The HTTP controller and the CLI share this service.
 */
@Injectable()
export class ProjectionAdminService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private readonly runs = new Map<string, Promise<void>>();
  private rescanTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(TENANT_DIRECTORY) private readonly tenants: TenantDirectory,
    @Inject(PROJECTION_REBUILDS) private readonly rebuilds: ProjectionRebuilds,
    @Inject(PARKED_EVENTS) private readonly parked: ParkedEvents,
    @Inject(SCHEDULED_WORK) private readonly work: ScheduledWork,
    @Inject(LOGGER) logger: Logger,
    @Optional() @Inject(SUBSCRIPTION_LEADERSHIP) private readonly leadership?: SubscriptionLeadership,
  ) {
    this.logger = logger.child({ component: 'projection-admin' });
  }

  /** Resumes the rebuilds a crash or a stop left running, now and every 30 s (a runner on another instance may die). */
  async onApplicationBootstrap(): Promise<void> {
    await this.resume();
    this.rescanTimer = setInterval(() => {
      this.resume().catch((error: unknown) => this.logger.warn({ err: error }, 'rebuild rescan failed'));
    }, RESCAN_MS);
    this.rescanTimer.unref();
  }

  private async resume(): Promise<void> {
    for (const rebuild of await this.rebuilds.running()) this.runInBackground(rebuild);
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.rescanTimer);
    this.abort.abort();
    await Promise.all(this.runs.values());
  }

  /** Every projection: the scheduled-work projection, then each active tenant's reports read model. */
  async list(): Promise<ProjectionStatus[]> {
    const parked = await this.parked.countBySubscription();
    const rebuilding = new Set((await this.rebuilds.running()).map((r) => `${r.name}:${r.tenantId}`));
    const global = await this.work.checkpoint(SCHEDULED_WORK_PROJECTION);
    const statuses: ProjectionStatus[] = [
      {
        name: SCHEDULED_WORK_PROJECTION,
        tenantId: null,
        status: 'live',
        checkpoint: global ?? null,
        lag: await this.lag(global, { categories: [REPORT_CATEGORY] }),
        parked: parked[SCHEDULED_WORK_PROJECTION] ?? 0,
      },
    ];
    for (const tenant of await this.tenants.list()) {
      if (tenant.status !== 'active') continue;
      const name = `${REPORT_VIEW_PROJECTION}:${tenant.id}`;
      const base = { name: REPORT_VIEW_PROJECTION, tenantId: tenant.id, parked: parked[name] ?? 0 };
      try {
        const checkpoint = await loadProjectionCheckpoint(await this.databases.em(tenant.id));
        statuses.push({
          ...base,
          status: rebuilding.has(name) ? 'rebuilding' : 'live',
          checkpoint: checkpoint ?? null,
          lag: await this.lag(checkpoint, tenantReports(tenant.id)),
        });
      } catch (error) {
        this.logger.warn({ err: error, tenantId: tenant.id }, 'projection status unavailable');
        statuses.push({ ...base, status: 'unreachable', checkpoint: null, lag: null });
      }
    }
    return statuses;
  }

  /**
   * Starts rebuilding `name` for a tenant and returns at once (the rebuild runs in the background).
   * @throws ProjectionNotFound, ProjectionNotRebuildable (scheduled-work), TenantNotFound, RebuildAlreadyRunning
   */
  async startRebuild(name: string, tenantId: string): Promise<RebuildProgress> {
    const rebuild = await this.createRebuild(name, tenantId);
    this.runInBackground(rebuild);
    return withRate(rebuild);
  }

  /** Starts a rebuild and waits for its end (the CLI); `onProgress` gets the count after every page. */
  async rebuildAndWait(
    name: string,
    tenantId: string,
    onProgress?: (eventsApplied: number, lag: number | null) => void,
  ): Promise<RebuildProgress> {
    const rebuild = await this.createRebuild(name, tenantId);
    await this.run(rebuild, this.abort.signal, onProgress);
    return this.getRebuild(name, rebuild.id);
  }

  /** @throws RebuildNotFound (also for a rebuild of another projection) */
  async getRebuild(name: string, id: string): Promise<RebuildProgress> {
    const rebuild = /^[0-9a-f-]{36}$/i.test(id) ? await this.rebuilds.get(id) : null;
    if (!rebuild || rebuild.name !== name) throw new RebuildNotFound(id);
    return withRate(rebuild);
  }

  private async createRebuild(name: string, tenantId: string): Promise<ProjectionRebuild> {
    if (name === SCHEDULED_WORK_PROJECTION)
      throw new ProjectionNotRebuildable(
        name,
        'its rows hold leases and provider jobs in flight; it catches up by itself from its checkpoint',
      );
    if (name !== REPORT_VIEW_PROJECTION) throw new ProjectionNotFound(name);
    const tenant = (await this.tenants.list()).find((t) => t.id === tenantId && t.status === 'active');
    if (!tenant) throw new TenantNotFound(tenantId);
    const rebuild = await this.rebuilds.create({ id: uuidv7(), name, tenantId });
    try {
      await this.databases.transactional(tenantId, (em) => prepareReportViewRebuild(em, true));
    } catch (error) {
      await this.rebuilds.finish(rebuild.id, { status: 'failed', error: messageOf(error) });
      throw error;
    }
    this.logger.info({ rebuildId: rebuild.id, projection: name, tenantId }, 'projection rebuild started');
    return rebuild;
  }

  private runInBackground(rebuild: ProjectionRebuild): void {
    if (this.runs.has(rebuild.id)) return;
    const run = this.run(rebuild, this.abort.signal).finally(() => this.runs.delete(rebuild.id));
    this.runs.set(rebuild.id, run);
  }

  /**
   * Builds the new read model page by page (one transaction each, with its checkpoint), then switches.
   * Runs only while this instance leads the rebuild; stops quietly when `signal` aborts (resumed later).
   */
  private async run(
    rebuild: ProjectionRebuild,
    signal: AbortSignal,
    onProgress?: (eventsApplied: number, lag: number | null) => void,
  ): Promise<void> {
    const lock = `rebuild:${rebuild.id}`;
    const leading = this.leadership ? await this.leadership.lead(lock, signal) : signal;
    if (!leading) return;
    const stop = AbortSignal.any([signal, leading]);
    const { tenantId } = rebuild;
    const filter = tenantReports(tenantId);
    try {
      // Another instance may have led it to its end while this one waited for the lead.
      const current = await this.rebuilds.get(rebuild.id);
      if (current?.status !== 'running') return;
      let applied = current.eventsApplied;
      await this.databases.transactional(tenantId, (em) => prepareReportViewRebuild(em, false));
      for (;;) {
        if (stop.aborted) return;
        const after = await rebuildCheckpoint(await this.databases.em(tenantId));
        const page = await this.store.readAll({ ...(after ? { after } : {}), filter, maxCount: PAGE });
        if (page.length < PAGE) break;
        await this.databases.transactional(tenantId, (em) => applyRebuildPage(em, page, after));
        await this.rebuilds.progress(rebuild.id, page.length);
        applied += page.length;
        onProgress?.(applied, await this.lag(page.at(-1)!.checkpoint, filter));
      }
      // Caught up to within a page: the rest is applied under the live projection's lock, then the swap.
      let rest = 0;
      await this.databases.transactional(tenantId, (em) =>
        switchReportView(em, async (after) => {
          let from: Checkpoint | undefined = after;
          for (;;) {
            const page = await this.store.readAll({
              ...(from ? { after: from } : {}),
              filter,
              maxCount: PAGE,
            });
            if (page.length === 0) return;
            await applyRebuildPage(em, page, from);
            rest += page.length;
            from = page.at(-1)!.checkpoint;
          }
        }),
      );
      if (rest > 0) await this.rebuilds.progress(rebuild.id, rest);
      onProgress?.(applied + rest, 0);
      await this.rebuilds.finish(rebuild.id, { status: 'completed' });
      this.logger.info(
        { rebuildId: rebuild.id, tenantId, events: applied + rest },
        'projection rebuild switched in',
      );
    } catch (error) {
      if (stop.aborted) return;
      this.logger.error({ err: error, rebuildId: rebuild.id, tenantId }, 'projection rebuild failed');
      await this.rebuilds.finish(rebuild.id, { status: 'failed', error: messageOf(error) });
    } finally {
      await this.leadership?.release(lock);
    }
  }

  private async lag(checkpoint: Checkpoint | undefined, filter: LogFilter): Promise<number> {
    const pending = await this.store.readAll({
      ...(checkpoint ? { after: checkpoint } : {}),
      filter,
      maxCount: LAG_CAP,
    });
    return pending.length;
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const withRate = (rebuild: ProjectionRebuild): RebuildProgress => {
  const seconds = ((rebuild.finishedAt ?? new Date()).getTime() - rebuild.startedAt.getTime()) / 1000;
  return { ...rebuild, eventsPerSecond: seconds > 0 ? Math.round(rebuild.eventsApplied / seconds) : 0 };
};
