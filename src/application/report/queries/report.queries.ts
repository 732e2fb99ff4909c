import type { AuthUser } from '../../auth/auth-user.js';
import { Inject, Injectable } from '@nestjs/common';
import type { Report } from '../../../domain/report/report.decider.js';
import { EVENT_STORE, type EventStore } from '../../ports/event-store.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../../ports/tenant-databases.port.js';
import { ReportView } from '../projections/report-view.entity.js';
import { ReportNotVisible, canSee } from '../report-access.js';
import { loadReport } from '../report-stream.js';

export type ReportPage = Readonly<{ data: Report[]; hasMore: boolean }>;

/** Reads of reports: lists from the tenant's read model; single reports fresh from their stream. */
@Injectable()
export class ReportQueries {
  constructor(
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  /**
   * The report as of its latest event. Reading the one stream (a handful of events) gives
   * read-your-writes right after POST, where the read model may still lag by a few milliseconds.
   */
  async current(caller: AuthUser, reportId: string): Promise<Report> {
    const report = await loadReport(this.store, caller.tenantId, reportId);
    if (report.status === 'initial' || !canSee(caller, report)) throw new ReportNotVisible(reportId);
    return report;
  }

  /** Newest first; members see their own reports, admins the tenant's. `startingAfter` is a report id. */
  async list(caller: AuthUser, limit: number, startingAfter?: string): Promise<ReportPage> {
    const em = await this.databases.em(caller.tenantId);
    const mine = caller.role === 'admin' ? {} : { requestedBy: caller.userId };
    let cursor = {};
    if (startingAfter) {
      const after = await em.findOne(ReportView, { id: startingAfter, ...mine });
      if (!after) throw new ReportNotVisible(startingAfter);
      cursor = {
        $or: [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, id: { $lt: after.id } }],
      };
    }
    const rows = await em.find(
      ReportView,
      { ...mine, ...cursor },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: limit + 1 },
    );
    return { data: rows.slice(0, limit).map((r) => r.state), hasMore: rows.length > limit };
  }
}
