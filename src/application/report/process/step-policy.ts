import { isProviderName, type ProviderName } from '../../../domain/report/provider-data.js';
import type {
  PollReason,
  ProviderResult,
  ReportCommand,
  ReportFile,
  SchedulePoll,
} from '../../../domain/report/report.commands.js';
import { isFinal, type Report } from '../../../domain/report/report.decider.js';
import type { RowMove, WorkItem } from '../../ports/scheduled-work.port.js';
import { backoffDelay, type ProcessOptions } from './process-options.js';

/**
 * The process manager's step policy, pure: given the claimed work item and the report as its stream says,
 * what to do (plan), and given what the provider (or the file stage) answered, which commands to append and
 * where the row goes (decision). The worker only performs I/O around it.
 *
 * Rules (api.md "Reports", ADR 0005, ADR 0013):
 * - The stream is the truth, not the row: a step the stream shows done, failed or final is not repeated; a
 *   job the stream knows is polled, never submitted again.
 * - A step claimed more than `maxStepClaims` times without moving forward (its worker crashed every time)
 *   fails its provider; generation fails after `maxGenerationRetries` claims.
 * - A provider not done by its deadline fails the report, naming it.
 * - Delays are relative (ms); `now` is the database's clock, the one every due time is compared on.
 */
export type StepPolicyOptions = Pick<
  ProcessOptions,
  'firstPollDelayMs' | 'backoffBaseMs' | 'backoffCapMs' | 'maxGenerationRetries'
> & { maxStepClaims?: number; fileRetentionMs?: number };

export const DEFAULT_MAX_STEP_CLAIMS = 10;

/** Commands to append (together, one append) and where the row goes after them. */
export type StepDecision = Readonly<{ commands: ReportCommand[]; move: RowMove }>;

export type StepPlan =
  | Readonly<{ do: 'submit'; provider: ProviderName }>
  | Readonly<{ do: 'poll'; provider: ProviderName; jobId: string }>
  | Readonly<{ do: 'generate' }>
  /** Retention: delete the final report's objects. */
  | Readonly<{ do: 'expire' }>
  /** Nothing to call: append these commands (maybe none) and move the row. */
  | Readonly<{ do: 'decided'; decision: StepDecision }>;

/** What the step's call produced. */
export type StepOutcome =
  | Readonly<{ type: 'submitted'; jobId: string }>
  | Readonly<{ type: 'processing'; retryAfterMs?: number }>
  | Readonly<{ type: 'result-stored'; result: ProviderResult }>
  | Readonly<{ type: 'job-failed'; code: string; message: string }>
  | Readonly<{ type: 'unavailable'; retryAfterMs?: number }>
  | Readonly<{ type: 'rejected'; message: string }>
  | Readonly<{ type: 'generated'; files: readonly ReportFile[] }>
  | Readonly<{ type: 'generation-error' }>
  | Readonly<{ type: 'objects-deleted' }>;

export type StepContext = Readonly<{
  item: WorkItem;
  report: Report;
  /** ISO-8601, the database's clock. */
  now: string;
  options: StepPolicyOptions;
  /** Jitter source of the backoff (tests pin it). */
  random?: () => number;
  /** The worker's deadline timer fired during the call (the clocks may differ by a millisecond). */
  deadlineReached?: boolean;
}>;

const finished: StepDecision = { commands: [], move: { to: 'delete' } };

/** Before acting: what the claimed step should do, judged from the report's stream. */
export const planStep = ({ item, report, now, options, deadlineReached }: StepContext): StepPlan => {
  if (item.step === 'retention') {
    // Only a final report's objects expire, once.
    if (!isFinal(report.status) || report.filesExpiredAt !== null)
      return { do: 'decided', decision: finished };
    return { do: 'expire' };
  }
  if (report.status === 'initial' || isFinal(report.status)) return { do: 'decided', decision: finished };
  if (item.step === 'generation') {
    if (item.claims > options.maxGenerationRetries) {
      return { do: 'decided', decision: failGeneration(item, now) };
    }
    return { do: 'generate' };
  }
  if (!isProviderName(item.step)) throw new Error(`unknown step ${String(item.step)}`);
  const provider = item.step;
  const progress = report.providers[provider];
  if (progress.status === 'done' || progress.status === 'failed') {
    return { do: 'decided', decision: finished };
  }
  if (deadlineReached || Date.parse(now) > item.deadlineAt.getTime()) {
    return {
      do: 'decided',
      decision: failProvider(
        item,
        provider,
        'deadline_exceeded',
        `${provider} did not answer before its deadline`,
        now,
      ),
    };
  }
  if (item.claims > (options.maxStepClaims ?? DEFAULT_MAX_STEP_CLAIMS)) {
    return {
      do: 'decided',
      decision: failProvider(
        item,
        provider,
        'step_attempts_exhausted',
        `${provider}: the step was tried ${item.claims - 1} times without progress`,
        now,
      ),
    };
  }
  if (progress.jobId === undefined) return { do: 'submit', provider };
  if (progress.attempts === 0) {
    // The job is recorded but its first poll was lost (a crash between two appends of old versions).
    return {
      do: 'decided',
      decision: nextPoll(item, provider, progress.jobId, 1, options.firstPollDelayMs, 'submitted', now),
    };
  }
  return { do: 'poll', provider, jobId: progress.jobId };
};

/** After acting: the commands and the row's move for what the call produced. */
export const decideOutcome = (context: StepContext, outcome: StepOutcome): StepDecision => {
  const { item, report, now, options } = context;
  const backoff = (attempt: number, retryAfterMs?: number) =>
    backoffDelay(options, attempt, retryAfterMs, context.random);
  if (item.step === 'retention') {
    if (outcome.type !== 'objects-deleted')
      throw new Error(`outcome ${outcome.type} does not belong to retention`);
    return {
      commands: [{ type: 'ExpireFiles', data: { reportId: item.reportId, expiredAt: now } }],
      move: { to: 'delete' },
    };
  }
  if (item.step === 'generation') {
    switch (outcome.type) {
      case 'generated':
        return {
          commands: [
            {
              type: 'CompleteReport',
              data: {
                reportId: item.reportId,
                files: outcome.files,
                completedAt: now,
                ...(options.fileRetentionMs !== undefined
                  ? { retainedUntil: new Date(Date.parse(now) + options.fileRetentionMs).toISOString() }
                  : {}),
              },
            },
          ],
          move: { to: 'delete' },
        };
      case 'generation-error':
        return item.claims >= options.maxGenerationRetries
          ? failGeneration(item, now)
          : { commands: [], move: { to: 'retry', delayMs: backoff(item.claims) } };
      default:
        throw new Error(`outcome ${outcome.type} does not belong to generation`);
    }
  }
  if (!isProviderName(item.step)) throw new Error(`unknown step ${String(item.step)}`);
  const provider = item.step;
  const progress = report.providers[provider];
  // The next poll attempt follows the stream's count: a stale row cannot make an attempt number repeat.
  const attempt = progress.attempts + 1;
  switch (outcome.type) {
    case 'submitted': {
      const next = nextPoll(item, provider, outcome.jobId, 1, options.firstPollDelayMs, 'submitted', now);
      return {
        // One append for the job and its first poll: fewer appends and conflicts with the other providers.
        commands: [
          {
            type: 'RecordProviderJob',
            data: { reportId: item.reportId, provider, jobId: outcome.jobId, submittedAt: now },
          },
          ...next.commands,
        ],
        move: next.move,
      };
    }
    case 'processing':
      return nextPoll(
        item,
        provider,
        progress.jobId!,
        attempt,
        backoff(progress.attempts, outcome.retryAfterMs),
        'processing',
        now,
      );
    case 'unavailable':
      // Before a job exists the same submit is retried (same idempotency key); afterwards, a new poll.
      return progress.jobId === undefined
        ? { commands: [], move: { to: 'retry', delayMs: backoff(item.claims, outcome.retryAfterMs) } }
        : nextPoll(
            item,
            provider,
            progress.jobId,
            attempt,
            backoff(progress.attempts, outcome.retryAfterMs),
            'retry',
            now,
          );
    case 'result-stored':
      return {
        commands: [
          {
            type: 'RecordProviderResult',
            data: { reportId: item.reportId, provider, result: outcome.result, recordedAt: now },
          },
        ],
        move: { to: 'delete' },
      };
    case 'job-failed':
      return failProvider(item, provider, outcome.code, outcome.message, now);
    case 'rejected':
      return failProvider(item, provider, 'provider_rejected', outcome.message, now);
    default:
      throw new Error(`outcome ${outcome.type} does not belong to a provider step`);
  }
};

const nextPoll = (
  item: WorkItem,
  provider: ProviderName,
  jobId: string,
  attempt: number,
  delayMs: number,
  reason: PollReason,
  now: string,
): StepDecision => {
  const command: SchedulePoll = {
    type: 'SchedulePoll',
    data: {
      reportId: item.reportId,
      provider,
      attempt,
      dueAt: new Date(Date.parse(now) + delayMs).toISOString(),
      scheduledAt: now,
      reason,
    },
  };
  return { commands: [command], move: { to: 'poll', attempt, jobId, delayMs } };
};

const failProvider = (
  item: WorkItem,
  provider: ProviderName,
  code: string,
  message: string,
  now: string,
): StepDecision => ({
  commands: [
    {
      type: 'RecordProviderFailure',
      data: { reportId: item.reportId, provider, code, message, failedAt: now },
    },
  ],
  move: { to: 'delete' },
});

const failGeneration = (item: WorkItem, now: string): StepDecision => ({
  commands: [
    {
      type: 'FailReport',
      data: {
        reportId: item.reportId,
        code: 'generation_failed',
        message: 'The report files could not be generated',
        failedAt: now,
      },
    },
  ],
  move: { to: 'delete' },
});

/**
 * The submit's idempotency key: the same for every try of one report's job at one provider, across
 * retries, crashes and instances (tenant, report, provider and the step `submit`), and opaque.
 */
export const submitIdempotencyKey = (tenantId: string, reportId: string, provider: ProviderName): string =>
  `conflux:${tenantId}:${reportId}:${provider}:submit`;
