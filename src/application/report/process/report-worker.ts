import { randomUUID } from 'node:crypto';
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { isProviderName, type ProviderName } from '../../../domain/report/provider-data.js';
import type { ReportCommand } from '../../../domain/report/report.commands.js';
import type { Report } from '../../../domain/report/report.decider.js';
import { DomainError } from '../../../domain/shared/decider.js';
import { LOGGER, type Logger } from '../../ports/logger.port.js';
import {
  EVENT_STORE,
  type EventMetadata,
  type EventStore,
  type AppendToStream,
} from '../../ports/event-store.port.js';
import {
  METRICS,
  type Metrics,
  type ProviderCallOutcome,
  type ProviderOperation,
  noMetrics,
} from '../../ports/metrics.port.js';
import { OBJECT_STORAGE, type ObjectStorage } from '../../ports/object-storage.port.js';
import {
  SUMMARY_DOCUMENT_RENDERER,
  type SummaryDocumentRenderer,
} from '../../ports/summary-document.port.js';
import {
  PROVIDER_REGISTRY,
  ProviderRejectedError,
  ProviderUnavailableError,
  type ProviderRegistry,
} from '../../ports/provider.port.js';
import {
  LeaseLostError,
  SCHEDULED_WORK,
  type RowMove,
  type ScheduledWork,
  type WorkItem,
} from '../../ports/scheduled-work.port.js';
import { TRACING, type Tracing, noTracing, reportSpanAttributes } from '../../ports/tracing.port.js';
import { DecideReport } from '../commands/decide-report.handler.js';
import { generateReportFiles } from '../generate-report-files.js';
import { loadReport } from '../report-stream.js';
import { PROCESS_OPTIONS, backoffDelay, type ProcessOptions } from './process-options.js';
import {
  decideOutcome,
  planStep,
  submitIdempotencyKey,
  type StepContext,
  type StepDecision,
  type StepOutcome,
} from './step-policy.js';

/** The step ran into its provider's deadline. */
class DeadlineReached extends Error {
  override readonly name = 'DeadlineReached';
}

/** A provider result line longer than this is refused: it would otherwise grow a buffer without bound. */
export const MAX_RESULT_LINE_BYTES = 1024 * 1024;

type Running = { item: WorkItem; abort: AbortController; deadline?: NodeJS.Timeout };

/**
 * Runs the due work of the process manager: a loop that claims rows, and per row one step — read the
 * report's stream, ask the step policy (step-policy.ts) what to do, call the provider or the file stage,
 * append the policy's commands, move the row. Everything it does is fenced by the claim's lease token
 * (the token check, the append and the row move are one step: ScheduledWork.appendFenced; publishing
 * files is the CompleteReport append) and bounded: each step has an AbortSignal
 * that fires when the lease is lost (including cancel: the report's rows are deleted) and at the
 * provider's deadline, so no slot is held past a deadline.
 *
 * Time: every instant it writes is on the database's clock (an offset measured at each claim), so an
 * instance whose clock is off neither polls early nor late.
 */
@Injectable()
export class ReportWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly owner = `worker-${randomUUID()}`;
  private readonly running = new Map<string, Running>();
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Database clock minus this process's clock, measured at each claim. */
  private clockOffsetMs = 0;
  private readonly tracing: Tracing;
  private readonly metrics: Metrics;

  constructor(
    @Inject(SCHEDULED_WORK) private readonly work: ScheduledWork,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PROVIDER_REGISTRY) private readonly providers: ProviderRegistry,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    @Inject(SUMMARY_DOCUMENT_RENDERER) private readonly documents: SummaryDocumentRenderer,
    @Inject(PROCESS_OPTIONS) private readonly options: ProcessOptions,
    private readonly commands: CommandBus,
    @Inject(LOGGER) logger: Logger,
    @Optional() @Inject(TRACING) tracing?: Tracing,
    @Optional() @Inject(METRICS) metrics?: Metrics,
  ) {
    this.logger = logger.child({ component: 'report-worker' });
    this.tracing = tracing ?? noTracing;
    this.metrics = metrics ?? noMetrics;
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(100, this.options.leaseMs / 3));
  }

  /** Stops claiming, lets running steps finish — renewing their leases until the very end. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    clearInterval(this.renewTimer);
  }

  /** Lets the worker look for due rows now (e.g. right after a report was requested). */
  nudge(): void {
    this.wake?.();
  }

  /** Now on the database's clock, in epoch ms. */
  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  private nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const free = this.options.concurrency - this.running.size;
        if (free > 0) {
          const before = Date.now();
          const claimed = await this.work.claimDue(this.owner, free, this.options.leaseMs);
          this.clockOffsetMs = claimed.now.getTime() - (before + Date.now()) / 2;
          for (const item of claimed.items) this.start(item);
        }
        const next = await this.work.nextDueInMs();
        await this.sleep(next === null ? 250 : Math.min(250, Math.max(10, next)));
      } catch (error) {
        this.logger.error({ err: error }, 'work loop failed; retrying in 1 s');
        await this.sleep(1000);
      }
    }
    while (this.running.size > 0) await this.sleep(50);
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
    const running: Running = { item, abort: new AbortController() };
    if (isProviderName(item.step)) {
      // Armed on the database clock: the deadline is a database time.
      const left = item.deadlineAt.getTime() - this.now();
      running.deadline = setTimeout(
        () => running.abort.abort(new DeadlineReached(`${item.step} deadline`)),
        Math.max(0, left),
      );
    }
    this.running.set(key, running);
    // One span per claimed step, in the trace of the request that created the report (ADR 0022).
    void this.tracing
      .inSpan(
        `report step ${item.step}`,
        { traceparent: item.traceparent, attributes: spanAttributes(item) },
        () => this.execute(item, running.abort.signal),
      )
      .catch(async (error: unknown) => {
        if (running.abort.signal.reason instanceof LeaseLostError || error instanceof LeaseLostError) {
          this.logger.info({ ...context(item) }, 'lease lost: the step stops, its effects are fenced');
          return;
        }
        this.logger.warn({ ...context(item), err: error }, 'step failed; retrying later');
        await this.work.move(item, {
          to: 'retry',
          delayMs: backoffDelay(this.options, item.claims, undefined),
        });
      })
      .catch((error: unknown) =>
        this.logger.error({ ...context(item), err: error }, 'step could not be rescheduled'),
      )
      .finally(() => {
        clearTimeout(running.deadline);
        this.running.delete(key);
        this.wake?.();
      });
  }

  /** A lost lease (row taken or deleted, e.g. by a cancel) aborts the step at once. */
  private async renewLeases(): Promise<void> {
    if (this.running.size === 0) return;
    const all = [...this.running.values()];
    try {
      const lost = await this.work.renewLease(
        all.map((r) => r.item),
        this.options.leaseMs,
      );
      for (const item of lost) {
        const running = this.running.get(`${item.tenantId}/${item.reportId}/${item.step}`);
        running?.abort.abort(new LeaseLostError(item));
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'lease renewal failed');
    }
  }

  private async execute(item: WorkItem, signal: AbortSignal, deadlineReached = false): Promise<void> {
    const report = await loadReport(this.store, item.tenantId, item.reportId);
    const ctx = (r: Report): StepContext => ({
      item,
      report: r,
      now: this.nowIso(),
      options: this.options,
      deadlineReached,
    });
    const plan = planStep(ctx(report));
    switch (plan.do) {
      case 'decided':
        return this.apply(item, plan.decision);
      case 'generate':
        return this.generate(item, report, signal, ctx);
      case 'expire':
        // Objects first, then the event: ReportFilesExpired states a fact. A crash in between deletes
        // nothing more on the next claim and appends then.
        await this.storage.deletePrefix(`tenants/${item.tenantId}/reports/${item.reportId}/`);
        return this.apply(item, decideOutcome(ctx(report), { type: 'objects-deleted' }));
      case 'submit':
      case 'poll': {
        let outcome: StepOutcome;
        try {
          outcome = await this.callProvider(item, plan, signal);
        } catch (error) {
          if (signal.reason instanceof DeadlineReached) {
            // Decided again from the stream (the result may have landed meanwhile): the provider fails.
            return this.execute(item, new AbortController().signal, true);
          }
          throw error;
        }
        return this.apply(item, decideOutcome(ctx(report), outcome));
      }
    }
  }

  private async callProvider(
    item: WorkItem,
    plan: { do: 'submit'; provider: ProviderName } | { do: 'poll'; provider: ProviderName; jobId: string },
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const adapter = this.providers.get(plan.provider);
    const call = <T>(operation: ProviderOperation, fn: () => Promise<T>) =>
      this.providerCall(item, plan.provider, operation, signal, fn);
    try {
      if (plan.do === 'submit') {
        const { jobId } = await call('submit', () =>
          adapter.submit(
            {
              subject: item.subject,
              period: item.period,
              idempotencyKey: submitIdempotencyKey(item.tenantId, item.reportId, plan.provider),
            },
            { signal },
          ),
        );
        return { type: 'submitted', jobId };
      }
      const jobId = plan.jobId;
      const status = await call('poll', () => adapter.poll(jobId, { signal }));
      if (status.status === 'processing')
        return {
          type: 'processing',
          ...(status.retryAfterMs !== undefined ? { retryAfterMs: status.retryAfterMs } : {}),
        };
      if (status.status === 'failed')
        return { type: 'job-failed', code: status.code, message: status.message };
      const result = await call('fetch', async () =>
        this.storeResult(item, plan.provider, await adapter.openResult(jobId, { signal }), signal),
      );
      return { type: 'result-stored', result };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof ProviderUnavailableError)
        return {
          type: 'unavailable',
          ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
        };
      if (error instanceof ProviderRejectedError) return { type: 'rejected', message: error.message };
      throw error;
    }
  }

  /**
   * One provider call in its own span (a child of the step's; the HTTP client span nests under it) and
   * measured for the provider latency histogram, with how it ended.
   */
  private async providerCall<T>(
    item: WorkItem,
    provider: ProviderName,
    operation: ProviderOperation,
    signal: AbortSignal,
    fn: () => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    let outcome: ProviderCallOutcome = 'ok';
    try {
      return await this.tracing.inSpan(
        `provider ${operation}`,
        { attributes: { ...spanAttributes(item), 'conflux.provider': provider } },
        fn,
      );
    } catch (error) {
      outcome = signal.aborted
        ? 'aborted'
        : error instanceof ProviderUnavailableError
          ? 'unavailable'
          : error instanceof ProviderRejectedError
            ? 'rejected'
            : 'error';
      throw error;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.metrics.providerCall({ tenantId: item.tenantId, provider, operation, outcome, seconds });
    }
  }

  /**
   * Claim check: the raw result goes to object storage as it arrives; the event records key, rows and
   * hash. Lines are capped (MAX_RESULT_LINE_BYTES) and the stream dies with the step's signal.
   */
  private async storeResult(item: WorkItem, provider: ProviderName, body: Readable, signal: AbortSignal) {
    const lines = new LineCounter(provider, MAX_RESULT_LINE_BYTES);
    // pipeline, not pipe: a provider connection cut mid-stream must fail the put (and the step), not hang it.
    // The signal belongs to the pipeline, which stops listening once it is done: an abort after the result
    // is stored must not destroy a finished stream nobody listens to (an uncaught 'error').
    pipeline(body, lines, { signal }).catch(() => undefined); // the failure reaches the put through `lines`
    // Each claim writes under its own key: a stale writer never replaces what another claim recorded.
    const stored = await this.storage.put(
      `tenants/${item.tenantId}/reports/${item.reportId}/raw/${provider}.${item.leaseToken}.ndjson`,
      lines,
      { contentType: 'application/x-ndjson' },
    );
    return { key: stored.key, rows: lines.count, bytes: stored.bytes, sha256: stored.sha256 };
  }

  private async generate(
    item: WorkItem,
    report: Report,
    signal: AbortSignal,
    ctx: (r: Report) => StepContext,
  ): Promise<void> {
    let started = report;
    if (report.status !== 'generating') {
      started = await this.dispatch(item, [
        { type: 'StartGeneration', data: { reportId: item.reportId, startedAt: this.nowIso() } },
      ]);
    }
    const key = (p: ProviderName) => {
      const result = started.providers[p].result;
      if (!result) throw new Error(`report ${item.reportId}: no stored result for ${p}`);
      return result.key;
    };
    let outcome: StepOutcome;
    const fileStageStarted = performance.now();
    try {
      const files = await this.tracing.inSpan(
        'report generate-files',
        { attributes: spanAttributes(item) },
        () =>
          generateReportFiles({
            storage: this.storage,
            documents: this.documents,
            tenantId: item.tenantId,
            reportId: item.reportId,
            // Each generation writes under its own prefix: a generation that lost its lease can never
            // replace the files (and hashes) another one published.
            generation: `g${item.leaseToken}`,
            subject: started.subject,
            period: started.period,
            inputs: {
              bankKey: key('bank-transactions'),
              creditKey: key('credit-bureau'),
              taxKey: key('tax-authority'),
            },
            // From ReportGenerationStarted: every generation of the report writes the same summary.json.
            generatedAt: started.generationStartedAt ?? started.updatedAt,
            signal,
          }),
      );
      this.metrics.fileStage({
        tenantId: item.tenantId,
        rows: files.reduce((sum, file) => sum + (file.rows ?? 0), 0),
        seconds: (performance.now() - fileStageStarted) / 1000,
      });
      outcome = { type: 'generated', files };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      this.logger.warn({ ...context(item), err: error }, 'generation failed');
      outcome = { type: 'generation-error' };
    }
    await this.apply(item, decideOutcome(ctx(started), outcome));
  }

  /**
   * Appends the decision's commands and moves the row in one fenced step (LeaseLostError, nothing
   * written, when the claim lost the row); a decision that appends nothing (no commands, a no-op, a final
   * report) still moves the row, fenced by the same token.
   */
  private async apply(item: WorkItem, decision: StepDecision): Promise<void> {
    const [first, ...rest] = decision.commands;
    let moved = false;
    if (first)
      await this.dispatch(item, [first, ...rest], decision.move, () => {
        moved = true;
      });
    if (!moved) await this.work.move(item, decision.move);
  }

  /**
   * Decides `commands` on the report's stream and appends them fenced by the claim (with `move` in the
   * same step; `onMoved` then runs). A command on a report that is already final is dropped: the report
   * was cancelled or finished meanwhile.
   */
  private async dispatch(
    item: WorkItem,
    commands: readonly [ReportCommand, ...ReportCommand[]],
    move?: RowMove,
    onMoved?: () => void,
  ): Promise<Report> {
    const metadata: EventMetadata = {
      tenantId: item.tenantId,
      correlationId: item.reportId,
      ...(item.traceparent ? { traceparent: item.traceparent } : {}),
    };
    const append: AppendToStream = async (streamName, events, options) => {
      const result = await this.work.appendFenced(item, streamName, events, {
        ...options,
        ...(move ? { move } : {}),
      });
      if (move) onMoved?.();
      return result;
    };
    try {
      return (await this.commands.execute(new DecideReport(commands, metadata, append))).state;
    } catch (error) {
      if (error instanceof DomainError && error.code === 'report_final')
        return loadReport(this.store, item.tenantId, item.reportId);
      throw error;
    }
  }
}

/** What every log line of a step carries (never the subject's tax id). */
const context = (item: WorkItem) => ({ tenantId: item.tenantId, reportId: item.reportId, step: item.step });

/** What every span of a step carries (never the subject's tax id). */
const spanAttributes = (item: WorkItem) => ({
  ...reportSpanAttributes(item.tenantId, item.reportId),
  'conflux.step': item.step,
});

/**
 * Counts NDJSON lines as they stream past (a final line without newline counts too) and refuses a line
 * longer than `maxLine` bytes: the provider answered nonsense (permanent), not a larger result.
 */
class LineCounter extends Transform {
  count = 0;
  private lastByte = 10;
  private lineBytes = 0;

  constructor(
    private readonly provider: ProviderName,
    private readonly maxLine: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let from = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
      this.count++;
      if (this.lineBytes + (i - from) > this.maxLine) return callback(this.tooLong());
      this.lineBytes = 0;
      from = i + 1;
    }
    this.lineBytes += chunk.length - from;
    if (this.lineBytes > this.maxLine) return callback(this.tooLong());
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1]!;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.lastByte !== 10) this.count++;
    callback();
  }

  private tooLong(): ProviderRejectedError {
    return new ProviderRejectedError(
      this.provider,
      200,
      'INVALID_RESPONSE',
      `${this.provider}: a result line is longer than ${this.maxLine} bytes`,
    );
  }
}
