import { randomUUID } from 'node:crypto';
import { pipeline, Transform, type TransformCallback, type Readable } from 'node:stream';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { isProviderName, type ProviderName } from '../../../domain/report/provider-data.js';
import type { PollReason, ReportCommand, SchedulePoll } from '../../../domain/report/report.commands.js';
import { isFinal } from '../../../domain/report/report.decider.js';
import { DomainError } from '../../../domain/shared/decider.js';
import { LOGGER, type Logger } from '../../ports/logger.port.js';
import { EVENT_STORE, type EventMetadata, type EventStore } from '../../ports/event-store.port.js';
import { OBJECT_STORAGE, type ObjectStorage } from '../../ports/object-storage.port.js';
import {
  PROVIDER_REGISTRY,
  ProviderRejectedError,
  ProviderUnavailableError,
  type ProviderRegistry,
} from '../../ports/provider.port.js';
import { SCHEDULED_WORK, type ScheduledWork, type WorkItem } from '../../ports/scheduled-work.port.js';
import { DecideReport } from '../commands/decide-report.handler.js';
import { generateReportFiles } from '../generate-report-files.js';
import { loadReport } from '../report-stream.js';
import { PROCESS_OPTIONS, backoffDelay, type ProcessOptions } from './process-options.js';

/**
 * Runs the due work of the process manager: submits provider jobs, polls them, stores results (claim
 * check) and generates files. It holds nothing a crash could lose: every step is a claimed row of the
 * scheduled-work table, and every outcome is an event (or, for transient submit/generation errors, the
 * row moved later). A crashed worker's lease expires and another one repeats the step; the decider makes
 * repeats no-ops.
 */
@Injectable()
export class ReportWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly owner = `worker-${randomUUID()}`;
  private readonly running = new Map<string, WorkItem>();
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(SCHEDULED_WORK) private readonly work: ScheduledWork,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PROVIDER_REGISTRY) private readonly providers: ProviderRegistry,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    @Inject(PROCESS_OPTIONS) private readonly options: ProcessOptions,
    private readonly commands: CommandBus,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'report-worker' });
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(200, this.options.leaseMs / 3));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.renewTimer);
    this.wake?.();
    await this.loop;
  }

  /** Lets the worker look for due rows now (e.g. right after a report was requested). */
  nudge(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const free = this.options.concurrency - this.running.size;
        const items = free > 0 ? await this.work.claimDue(this.owner, free, this.options.leaseMs) : [];
        for (const item of items) this.start(item);
        await this.sleep(await this.idleDelay());
      } catch (error) {
        this.logger.error({ err: error }, 'work loop failed; retrying in 1 s');
        await this.sleep(1000);
      }
    }
    while (this.running.size > 0) await this.sleep(50);
  }

  private async idleDelay(): Promise<number> {
    const next = await this.work.nextDueAt();
    return next ? Math.min(250, Math.max(10, next.getTime() - Date.now())) : 250;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private start(item: WorkItem): void {
    const key = `${item.tenantId}/${item.reportId}/${item.step}`;
    this.running.set(key, item);
    void this.execute(item)
      .catch(async (error: unknown) => {
        this.logger.warn({ ...context(item), err: error }, 'step failed; retrying later');
        await this.work.retryLater(this.owner, item, new Date(Date.now() + this.backoff(item.retries + 1)));
      })
      .catch((error: unknown) =>
        this.logger.error({ ...context(item), err: error }, 'step could not be rescheduled'),
      )
      .finally(() => {
        this.running.delete(key);
        this.wake?.();
      });
  }

  private async renewLeases(): Promise<void> {
    if (this.running.size === 0) return;
    await this.work
      .renewLease(this.owner, [...this.running.values()], this.options.leaseMs)
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'lease renewal failed');
      });
  }

  private execute(item: WorkItem): Promise<void> {
    if (item.step === 'generation') return this.generate(item);
    if (!isProviderName(item.step)) throw new Error(`unknown step ${String(item.step)}`);
    if (Date.now() > item.deadlineAt.getTime()) {
      return this.failProvider(
        item,
        item.step,
        'deadline_exceeded',
        `${item.step} did not answer before its deadline`,
      );
    }
    return item.kind === 'submit' || !item.jobId
      ? this.submit(item, item.step)
      : this.poll(item, item.step, item.jobId);
  }

  private async submit(item: WorkItem, provider: ProviderName): Promise<void> {
    const firstPoll = this.pollCommand(item, provider, 1, this.options.firstPollDelayMs, 'submitted');
    if (item.jobId) return this.dispatch(item, firstPoll); // the job is recorded; only its first poll was lost
    let jobId: string;
    try {
      jobId = (await this.providers.get(provider).submit({ subject: item.subject, period: item.period }))
        .jobId;
    } catch (error) {
      if (error instanceof ProviderUnavailableError) {
        await this.work.retryLater(
          this.owner,
          item,
          new Date(Date.now() + this.backoff(item.retries + 1, error.retryAfterMs)),
        );
        return;
      }
      if (error instanceof ProviderRejectedError)
        return this.failProvider(item, provider, 'provider_rejected', error.message);
      throw error;
    }
    // One append for the job and its first poll: half the appends of a submit, and fewer conflicts with
    // the report's other providers writing the same stream.
    await this.dispatch(item, [
      { type: 'RecordProviderJob', data: { reportId: item.reportId, provider, jobId, submittedAt: now() } },
      firstPoll,
    ]);
  }

  private async poll(item: WorkItem, provider: ProviderName, jobId: string): Promise<void> {
    const adapter = this.providers.get(provider);
    try {
      const status = await adapter.poll(jobId);
      if (status.status === 'processing') {
        return this.schedulePoll(
          item,
          provider,
          item.attempt + 1,
          this.backoff(item.attempt, status.retryAfterMs),
          'processing',
        );
      }
      if (status.status === 'failed') return this.failProvider(item, provider, status.code, status.message);
      const result = await this.storeResult(item, provider, await adapter.openResult(jobId));
      await this.dispatch(item, {
        type: 'RecordProviderResult',
        data: { reportId: item.reportId, provider, result, recordedAt: now() },
      });
    } catch (error) {
      if (error instanceof ProviderUnavailableError) {
        return this.schedulePoll(
          item,
          provider,
          item.attempt + 1,
          this.backoff(item.attempt, error.retryAfterMs),
          'retry',
        );
      }
      if (error instanceof ProviderRejectedError)
        return this.failProvider(item, provider, 'provider_rejected', error.message);
      throw error;
    }
  }

  /** Claim check: the raw result goes to object storage as it arrives; the event records key, rows and hash. */
  private async storeResult(item: WorkItem, provider: ProviderName, body: Readable) {
    const lines = new LineCounter();
    // pipeline, not pipe: a provider connection cut mid-stream must fail the put (and the step), not hang it.
    pipeline(body, lines, () => undefined);
    const stored = await this.storage.put(
      `tenants/${item.tenantId}/reports/${item.reportId}/raw/${provider}.ndjson`,
      lines,
      { contentType: 'application/x-ndjson' },
    );
    return { key: stored.key, rows: lines.count, bytes: stored.bytes, sha256: stored.sha256 };
  }

  private async generate(item: WorkItem): Promise<void> {
    const report = await loadReport(this.store, item.tenantId, item.reportId);
    if (isFinal(report.status) || report.status === 'initial') return;
    await this.dispatch(item, {
      type: 'StartGeneration',
      data: { reportId: item.reportId, startedAt: now() },
    });
    const key = (p: ProviderName) => {
      const result = report.providers[p].result;
      if (!result) throw new Error(`report ${item.reportId}: no stored result for ${p}`);
      return result.key;
    };
    try {
      const files = await generateReportFiles({
        storage: this.storage,
        tenantId: item.tenantId,
        reportId: item.reportId,
        subject: report.subject,
        period: report.period,
        inputs: {
          bankKey: key('bank-transactions'),
          creditKey: key('credit-bureau'),
          taxKey: key('tax-authority'),
        },
        generatedAt: now(),
      });
      await this.dispatch(item, {
        type: 'CompleteReport',
        data: { reportId: item.reportId, files, completedAt: now() },
      });
    } catch (error) {
      if (item.retries + 1 < this.options.maxGenerationRetries) throw error;
      this.logger.error({ ...context(item), err: error }, 'generation failed for good: the report fails');
      await this.dispatch(item, {
        type: 'FailReport',
        data: {
          reportId: item.reportId,
          code: 'generation_failed',
          message: 'The report files could not be generated',
          failedAt: now(),
        },
      });
    }
  }

  private schedulePoll(
    item: WorkItem,
    provider: ProviderName,
    attempt: number,
    delayMs: number,
    reason: PollReason,
  ) {
    return this.dispatch(item, this.pollCommand(item, provider, attempt, delayMs, reason));
  }

  private pollCommand(
    item: WorkItem,
    provider: ProviderName,
    attempt: number,
    delayMs: number,
    reason: PollReason,
  ): SchedulePoll {
    const at = Date.now();
    return {
      type: 'SchedulePoll',
      data: {
        reportId: item.reportId,
        provider,
        attempt,
        dueAt: new Date(at + delayMs).toISOString(),
        scheduledAt: new Date(at).toISOString(),
        reason,
      },
    };
  }

  private failProvider(item: WorkItem, provider: ProviderName, code: string, message: string): Promise<void> {
    return this.dispatch(item, {
      type: 'RecordProviderFailure',
      data: { reportId: item.reportId, provider, code, message, failedAt: now() },
    });
  }

  /** A command on a report that is already final is dropped: the report was cancelled or finished meanwhile. */
  private async dispatch(
    item: WorkItem,
    command: ReportCommand | readonly [ReportCommand, ...ReportCommand[]],
  ): Promise<void> {
    const metadata: EventMetadata = {
      tenantId: item.tenantId,
      correlationId: item.reportId,
      ...(item.traceparent ? { traceparent: item.traceparent } : {}),
    };
    try {
      await this.commands.execute(new DecideReport(command, metadata));
    } catch (error) {
      if (error instanceof DomainError && error.code === 'report_final') return;
      throw error;
    }
  }

  private backoff(attempt: number, retryAfterMs?: number): number {
    return backoffDelay(this.options, attempt, retryAfterMs);
  }
}

const now = (): string => new Date().toISOString();

/** What every log line of a step carries (never the subject's tax id). */
const context = (item: WorkItem) => ({ tenantId: item.tenantId, reportId: item.reportId, step: item.step });

/** Counts NDJSON lines as they stream past (a final line without newline counts too). */
class LineCounter extends Transform {
  count = 0;
  private lastByte = 10;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.count++;
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1]!;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.lastByte !== 10) this.count++;
    callback();
  }
}
