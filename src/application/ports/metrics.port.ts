/**
 * The measurements the application reports (Prometheus behind it, ADR 0022). Labels stay bounded: the
 * adapter adds the tenant only when the operator turns per-tenant labels on.
 */
export const METRICS = Symbol('Metrics');

export type ProviderOperation = 'submit' | 'poll' | 'fetch';

/**
 * How a provider call ended: `ok` (answered; for a poll, whatever the job's status), `unavailable`
 * (transient, retried), `rejected` (permanent), `aborted` (lease lost, cancel, deadline), `error` (other).
 */
export type ProviderCallOutcome = 'ok' | 'unavailable' | 'rejected' | 'aborted' | 'error';

export type FinalStatus = 'ready' | 'failed' | 'cancelled';

export interface Metrics {
  /** One provider call: `seconds` from the request to the answer (for `fetch`, to the last stored byte). */
  providerCall(
    call: Readonly<{
      tenantId: string;
      provider: string;
      operation: ProviderOperation;
      outcome: ProviderCallOutcome;
      seconds: number;
    }>,
  ): void;
  /** One run of the file stage that produced files: rows written and its duration in seconds. */
  fileStage(run: Readonly<{ tenantId: string; rows: number; seconds: number }>): void;
  /** A report reached its final state through an append of this process. */
  reportFinished(tenantId: string, status: FinalStatus): void;
}

/** Metrics off (unit and integration tests that do not look at them). */
export const noMetrics: Metrics = {
  providerCall: () => undefined,
  fileStage: () => undefined,
  reportFinished: () => undefined,
};
