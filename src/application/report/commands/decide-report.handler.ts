import { Inject, Optional } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { ReportCommand } from '../../../domain/report/report.commands.js';
import { type Report, reportDecider } from '../../../domain/report/report.decider.js';
import type { ReportEvent } from '../../../domain/report/report.events.js';
import {
  EVENT_STORE,
  type AppendToStream,
  type EventMetadata,
  type EventStore,
} from '../../ports/event-store.port.js';
import { METRICS, type FinalStatus, type Metrics, noMetrics } from '../../ports/metrics.port.js';
import { type DecisionResult, executeDecider } from '../../shared/decider-command.js';
import { readReportEvent } from '../report-event-codec.js';
import { reportStream } from '../report-stream.js';

/**
 * Runs a domain command (or several, appended together) against a report's stream; the single write
 * path of reports. `append` (optional) replaces the store's append, e.g. the process manager's append
 * fenced by its lease; its errors reach the caller.
 */
export class DecideReport extends Command<DecisionResult<Report, ReportEvent>> {
  constructor(
    readonly command: ReportCommand | readonly [ReportCommand, ...ReportCommand[]],
    readonly metadata: EventMetadata,
    readonly append?: AppendToStream,
  ) {
    super();
  }
}

@CommandHandler(DecideReport)
export class DecideReportHandler implements ICommandHandler<DecideReport> {
  private readonly metrics: Metrics;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Optional() @Inject(METRICS) metrics?: Metrics,
  ) {
    this.metrics = metrics ?? noMetrics;
  }

  async execute({ command, metadata, append }: DecideReport): Promise<DecisionResult<Report, ReportEvent>> {
    const store = this.store;
    const result = await executeDecider(
      append
        ? { readStream: (name, options) => store.readStream(name, options), appendToStream: append }
        : store,
      reportDecider,
      reportStream(metadata.tenantId, ('data' in command ? command : command[0]).data.reportId),
      command,
      metadata,
      { upcast: readReportEvent },
    );
    // Each final event is appended once, by one process: summed over instances, the counter is exact.
    for (const event of result.events) {
      const status = FINAL_STATUS[event.type];
      if (status) this.metrics.reportFinished(metadata.tenantId, status);
    }
    return result;
  }
}

const FINAL_STATUS: Partial<Record<ReportEvent['type'], FinalStatus>> = {
  ReportReady: 'ready',
  ReportFailed: 'failed',
  ReportCancelled: 'cancelled',
};
