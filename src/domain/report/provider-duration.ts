import type { ProviderProgress } from './report.decider.js';

/**
 * How long a provider took, in whole milliseconds: from the job's acceptance (ProviderJobSubmitted
 * `submittedAt`) to its result (ProviderResultRecorded `recordedAt`) or its failure (ProviderFailed
 * `failedAt`) — the times the worker wrote into those events, not when the log stored them (issue 11).
 *
 * Undefined while the provider has not finished, when it failed before any job existed (a refused submit,
 * a deadline before the submit answered), and for a state stored before these times were kept (a read
 * model not yet rebuilt, ADR 0023). Never negative: two events may come from two workers, each on its own
 * estimate of the database clock, so a few milliseconds of skew are read as 0.
 */
export const providerDurationMs = (progress: ProviderProgress): number | undefined => {
  if (progress.submittedAt === undefined || progress.finishedAt === undefined) return undefined;
  return Math.max(0, Date.parse(progress.finishedAt) - Date.parse(progress.submittedAt));
};
