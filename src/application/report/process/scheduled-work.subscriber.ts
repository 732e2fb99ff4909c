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
import { SCHEDULED_WORK, type ScheduledWork } from '../../ports/scheduled-work.port.js';
import {
  runCheckpointedSubscription,
  SUBSCRIPTION_RUNTIME,
  type SubscriptionRuntime,
} from '../../shared/checkpointed-subscription.js';
import { readReportEvent } from '../report-event-codec.js';
import { parseReportStream, REPORT_CATEGORY } from '../report-stream.js';
import { PROCESS_OPTIONS, type ProcessOptions } from './process-options.js';
import { ReportWorker } from './report-worker.js';
import { scheduledWorkChanges } from './scheduled-work.projection.js';

const PROJECTION = 'scheduled-work';

/** The process manager's subscription: turns report events into due work rows, with its checkpoint. */
@Injectable()
export class ScheduledWorkSubscriber implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(SCHEDULED_WORK) private readonly work: ScheduledWork,
    @Inject(PROCESS_OPTIONS) private readonly options: ProcessOptions,
    private readonly worker: ReportWorker,
    @Inject(LOGGER) logger: Logger,
    // Optional: without it (tests of one process), no parking, leadership or monitoring.
    @Optional() @Inject(SUBSCRIPTION_RUNTIME) private readonly runtime: SubscriptionRuntime = {},
  ) {
    this.logger = logger.child({ component: 'scheduled-work' });
  }

  onApplicationBootstrap(): void {
    this.running = runCheckpointedSubscription(
      this.store,
      {
        name: PROJECTION,
        filter: { categories: [REPORT_CATEGORY] },
        loadCheckpoint: () => this.work.checkpoint(PROJECTION),
        handle: async (events, after) => {
          const changes = events.flatMap((event) =>
            scheduledWorkChanges(
              readReportEvent(event),
              event.metadata,
              this.options.providerDeadlineMs,
              this.options.fileRetentionMs,
            ),
          );
          await this.work.apply(PROJECTION, { after, to: events[events.length - 1].checkpoint }, changes);
          this.worker.nudge();
        },
        isPoison: (error) => error instanceof ReportEventUnreadable,
        // A parked event leaves its report's stream unreadable here: every command on it fails, so its
        // work rows would only repeat effects (a provider submit per retry). They go with the skip, in
        // one transaction with the checkpoint; the report stays as it was until an operator acts.
        skip: async (event, after) => {
          const stream = parseReportStream(event.streamName);
          await this.work.apply(
            PROJECTION,
            { after, to: event.checkpoint },
            stream ? [{ op: 'delete', tenantId: stream.tenantId, reportId: stream.reportId }] : [],
          );
        },
      },
      this.abort.signal,
      this.logger,
      this.runtime,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}
