/** Tunables of the report process manager (config maps env to these; tests shorten them). */
export const PROCESS_OPTIONS = Symbol('ReportProcessOptions');

export type ProcessOptions = Readonly<{
  /** A provider not done this long after the request fails the report, naming it. */
  providerDeadlineMs: number;
  /** First poll after a job is submitted. */
  firstPollDelayMs: number;
  /** Backoff of polls and retries: base × 2^attempt, capped, with ±20 % jitter; Retry-After wins when longer. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** A claimed row is free again this long after its worker stopped renewing it (a crash). */
  leaseMs: number;
  /** Work items run at once by one process. */
  concurrency: number;
  /** Generation attempts (claims) before the report fails. */
  maxGenerationRetries: number;
  /**
   * Claims of one provider step without progress before its provider fails: counted at claim time, so a
   * step that kills its worker every time (crash loop) ends too. Default 10.
   */
  maxStepClaims?: number;
  /**
   * How long a final report's objects are kept (FILE_RETENTION_DAYS): a ready report's files until
   * completedAt + this; a failed or cancelled report's partial objects until min(this, 10 min) after.
   */
  fileRetentionMs: number;
}>;

export const defaultProcessOptions: ProcessOptions = {
  providerDeadlineMs: 15 * 60_000,
  firstPollDelayMs: 500,
  backoffBaseMs: 250,
  backoffCapMs: 30_000,
  leaseMs: 10_000,
  concurrency: 16,
  maxGenerationRetries: 3,
  fileRetentionMs: 30 * 24 * 60 * 60_000,
};

/** Delay before the next try: exponential with jitter, never shorter than the provider's Retry-After. */
export const backoffDelay = (
  options: Pick<ProcessOptions, 'backoffBaseMs' | 'backoffCapMs'>,
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number => {
  const exponential = Math.min(options.backoffCapMs, options.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential * (0.8 + 0.4 * random());
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, options.backoffCapMs)));
};
