import type { Readable } from 'node:stream';
import type { Period, ProviderName } from '../../domain/report/provider-data.js';

/**
 * The port to the three external providers. Each is an asynchronous job API: submit, poll until final,
 * then open the result. Callers (the saga) keep all state in events, so every method is safe to repeat.
 */
export const PROVIDER_REGISTRY = Symbol('ProviderRegistry');

export type ProviderRequest = Readonly<{
  subject: Readonly<{ taxId: string }>;
  period: Period;
  /**
   * Sent as `Idempotency-Key`: the same key always names the same job, so a submit retried after a timeout
   * or a crash does not start a second one. Derived from tenant, report, provider and step
   * (`submitIdempotencyKey`), never random.
   */
  idempotencyKey?: string;
}>;

/**
 * Per call: `signal` aborts the call (cancel, lease lost, the provider deadline) — headers and body; an
 * aborted call rejects, or its result stream errors, and its socket is closed.
 */
export type ProviderCallOptions = Readonly<{ signal?: AbortSignal }>;

export type PollResult =
  | Readonly<{ status: 'processing'; retryAfterMs?: number }>
  | Readonly<{ status: 'done' }>
  | Readonly<{ status: 'failed'; code: string; message: string }>;

export interface ProviderAdapter {
  readonly name: ProviderName;
  submit(request: ProviderRequest, options?: ProviderCallOptions): Promise<{ jobId: string }>;
  poll(jobId: string, options?: ProviderCallOptions): Promise<PollResult>;
  /**
   * The result as NDJSON bytes — bank: one Transaction per line; credit and tax: a single line — so the
   * caller can stream it into object storage while hashing it. The stream is not buffered: the caller
   * must consume or destroy it. It errors with ProviderUnavailableError if the connection breaks.
   */
  openResult(jobId: string, options?: ProviderCallOptions): Promise<Readable>;
}

export type ProviderInfo = Readonly<{ name: ProviderName; description: string; version: string }>;

export interface ProviderRegistry {
  list(): ProviderInfo[];
  /** Throws UnknownProviderError when no plugin has that name. */
  get(name: ProviderName): ProviderAdapter;
}

/** Transient: 429, 503 and other 5xx, network errors, timeouts. Retry, after `retryAfterMs` when given. */
export class ProviderUnavailableError extends Error {
  override readonly name = 'ProviderUnavailableError';
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(
    readonly provider: ProviderName,
    message: string,
    options: Readonly<{ retryAfterMs?: number; status?: number; cause?: unknown }> = {},
  ) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/** Permanent: the provider refused the request (a 4xx other than 408/429) or answered nonsense. Do not retry. */
export class ProviderRejectedError extends Error {
  override readonly name = 'ProviderRejectedError';

  constructor(
    readonly provider: ProviderName,
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class UnknownProviderError extends Error {
  override readonly name = 'UnknownProviderError';

  constructor(readonly provider: string) {
    super(`No provider plugin named ${provider}`);
  }
}
