import type { AuthUser } from '../../auth/auth-user.js';
import { Inject } from '@nestjs/common';
import { Command, CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Report } from '../../../domain/report/report.decider.js';
import { ReportQueries } from '../queries/report.queries.js';
import { DecideReport } from './decide-report.handler.js';

/** POST /v1/reports/:id/cancel — owner or tenant admin; 409 (report_final) when already final. */
export class CancelReportRequest extends Command<Report> {
  constructor(
    readonly caller: AuthUser,
    readonly reportId: string,
  ) {
    super();
  }
}

@CommandHandler(CancelReportRequest)
export class CancelReportRequestHandler implements ICommandHandler<CancelReportRequest> {
  constructor(
    @Inject(ReportQueries) private readonly queries: ReportQueries,
    private readonly commands: CommandBus,
  ) {}

  async execute({ caller, reportId }: CancelReportRequest): Promise<Report> {
    await this.queries.current(caller, reportId); // 404 unless the caller may see it
    const { state } = await this.commands.execute(
      new DecideReport(
        {
          type: 'CancelReport',
          data: { reportId, cancelledBy: caller.userId, cancelledAt: new Date().toISOString() },
        },
        { tenantId: caller.tenantId, userId: caller.userId, correlationId: reportId },
      ),
    );
    return state;
  }
}
