import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  type PollResult,
  type ProviderAdapter,
  type ProviderCallOptions,
  ProviderRejectedError,
  type ProviderRequest,
  ProviderUnavailableError,
} from '../../application/ports/provider.port.js';
import type { ProviderName } from '../../domain/report/provider-data.js';
import {
  DEFAULT_IDLE_BODY_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RESULT_TIMEOUT_MS,
  type ProviderClientOptions,
} from './provider-options.js';

/**
 * `Retry-After` in milliseconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent
 * or unreadable. A date in the past means "now" (0).
 */
export const parseRetryAfter = (
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined => {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP-date form starts with a day name; without this check Date.parse would accept '-5'.
  const date = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};

type JsonObject = Record<string, unknown>;

/**
 * Largest JSON answer read (submit, poll, a credit or tax result): 1 MiB, the cap a stored result line has
 * anyway (the worker's MAX_RESULT_LINE_BYTES). A larger answer is refused, never buffered whole.
 */
export const MAX_JSON_ANSWER_BYTES = 1024 * 1024;

/** Most of an error answer's body read for its problem+json `detail`; the rest is not read. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** A body that went past its cap: the reader stopped and closed the response. */
class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
}

/**
 * The response body as UTF-8 text, read chunk by chunk and given up (the body cancelled, its socket
 * closed) once it passes `limit` bytes: BodyTooLarge. A transport failure mid-body rejects as it comes.
 */
const readTextUpTo = async (response: Response, limit: number): Promise<string> => {
  if (!response.body) return '';
  const reader = (response.body as WebReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLarge(`body larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
};

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Duck-typed rather than `instanceof Error`: fetch's DOMException and TypeError may come from another realm
 * (undici's, a test VM's), where instanceof is false.
 */
const errorLike = (error: unknown): { name?: unknown; message?: unknown; cause?: unknown } =>
  typeof error === 'object' && error !== null ? error : {};

const errorText = (error: unknown): string => {
  const { name, message } = errorLike(error);
  return typeof message === 'string'
    ? `${typeof name === 'string' ? `${name}: ` : ''}${message}`
    : String(error);
};

/**
 * What the three adapters share: the job protocol (submit, poll, result) over `fetch`, and the HTTP outcome
 * sorted into transient (ProviderUnavailableError) and permanent (ProviderRejectedError) so the saga knows
 * whether to retry.
 *
 * Every call is bounded: a total deadline over headers and body (`requestTimeoutMs`; `resultTimeoutMs`
 * for a result stream), an idle-body timeout on result streams (`idleBodyTimeoutMs`), and the caller's
 * signal (cancel, lost lease, provider deadline). Whichever fires first aborts the request and closes its
 * socket. A JSON answer is read up to MAX_JSON_ANSWER_BYTES (past it: ProviderRejectedError, the socket
 * closed), an error answer's body up to 64 KiB. A submit carries the caller's `Idempotency-Key`, so a retry after a timeout finds the same job.
 */
export abstract class HttpProviderAdapter implements ProviderAdapter {
  private readonly baseUrl: string;
  protected readonly timeoutMs: number;
  private readonly idleBodyTimeoutMs: number;
  private readonly resultTimeoutMs: number;

  protected constructor(
    readonly name: ProviderName,
    baseUrl: string,
    options: ProviderClientOptions | undefined,
  ) {
    if (!baseUrl) throw new Error(`No base URL configured for provider ${name}`);
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.idleBodyTimeoutMs = options?.idleBodyTimeoutMs ?? DEFAULT_IDLE_BODY_TIMEOUT_MS;
    this.resultTimeoutMs = options?.resultTimeoutMs ?? DEFAULT_RESULT_TIMEOUT_MS;
  }

  async submit(request: ProviderRequest, options: ProviderCallOptions = {}): Promise<{ jobId: string }> {
    const body = await this.requestJson(
      '/jobs',
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(request.idempotencyKey ? { 'idempotency-key': request.idempotencyKey } : {}),
        },
        body: JSON.stringify({ subject: { taxId: request.subject.taxId }, period: request.period }),
      },
      options.signal,
    );
    if (typeof body.jobId !== 'string' || body.jobId === '')
      throw this.invalid('submit answered without a jobId');
    return { jobId: body.jobId };
  }

  async poll(jobId: string, options: ProviderCallOptions = {}): Promise<PollResult> {
    const { body, response } = await this.requestJsonWithResponse(
      this.jobPath(jobId),
      { method: 'GET' },
      options.signal,
    );
    switch (body.status) {
      case 'processing': {
        // The simulator adds a precise retryAfterMs; real providers only send whole seconds in Retry-After.
        const retryAfterMs =
          typeof body.retryAfterMs === 'number' && body.retryAfterMs >= 0
            ? body.retryAfterMs
            : parseRetryAfter(response.headers.get('retry-after'));
        return retryAfterMs === undefined ? { status: 'processing' } : { status: 'processing', retryAfterMs };
      }
      case 'done':
        return { status: 'done' };
      case 'failed': {
        const error = isObject(body.error) ? body.error : {};
        return {
          status: 'failed',
          code: typeof error.code === 'string' ? error.code : 'PROVIDER_JOB_FAILED',
          message:
            typeof error.message === 'string' ? error.message : `${this.name} reported the job as failed`,
        };
      }
      default:
        throw this.invalid(`poll answered an unknown status ${JSON.stringify(body.status)}`);
    }
  }

  /** Small results (one JSON document) re-emitted as one NDJSON line, normalised to a single line. */
  async openResult(jobId: string, options: ProviderCallOptions = {}): Promise<Readable> {
    const body = await this.requestJson(`${this.jobPath(jobId)}/result`, { method: 'GET' }, options.signal);
    return Readable.from([Buffer.from(`${JSON.stringify(body)}\n`)]);
  }

  /**
   * The result body as a byte stream, never buffered. Headers must come within `requestTimeoutMs`; the
   * whole body within `resultTimeoutMs`; no gap between bytes may exceed `idleBodyTimeoutMs`; and the
   * caller's signal aborts it. Each ends the stream with ProviderUnavailableError and closes the socket.
   */
  protected async openStream(path: string, signal?: AbortSignal): Promise<Readable> {
    const abort = new AbortController();
    const stop = (reason: unknown) => abort.abort(reason);
    const onCallerAbort = () => stop(signal?.reason);
    if (signal?.aborted) throw this.unavailable(signal.reason);
    signal?.addEventListener('abort', onCallerAbort, { once: true });
    const total = setTimeout(
      () => stop(new DOMException(`result not complete within ${this.resultTimeoutMs} ms`, 'TimeoutError')),
      this.resultTimeoutMs,
    );
    const headers = setTimeout(
      () => stop(new DOMException('headers timeout', 'TimeoutError')),
      this.timeoutMs,
    );
    const release = () => {
      clearTimeout(total);
      clearTimeout(idle);
      signal?.removeEventListener('abort', onCallerAbort);
    };
    let idle: NodeJS.Timeout | undefined;
    let response: Response;
    try {
      response = await this.fetch(path, { method: 'GET', signal: abort.signal });
    } catch (error) {
      release();
      throw error;
    } finally {
      clearTimeout(headers);
    }
    if (!response.ok) {
      release();
      throw await this.failure(response);
    }
    if (!response.body) {
      release();
      throw this.invalid('result answered without a body');
    }
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    // Re-emit through a PassThrough so a broken connection surfaces as the port's transient error.
    const out = new PassThrough();
    const fail = (error: unknown) =>
      out.destroy(
        new ProviderUnavailableError(this.name, `${this.name} result stream broke: ${errorText(error)}`, {
          cause: error,
        }),
      );
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => stop(new DOMException(`no byte for ${this.idleBodyTimeoutMs} ms`, 'TimeoutError')),
        this.idleBodyTimeoutMs,
      );
    };
    armIdle();
    body.on('data', armIdle);
    body.once('error', fail);
    abort.signal.addEventListener('abort', () => fail(abort.signal.reason), { once: true });
    // A consumer that gives up (destroy) must also close the HTTP response, or the socket stays busy.
    out.once('close', () => {
      release();
      body.destroy();
      if (!abort.signal.aborted) abort.abort(new DOMException('consumer closed the stream', 'AbortError'));
    });
    body.pipe(out);
    return out;
  }

  protected jobPath(jobId: string): string {
    return `/jobs/${encodeURIComponent(jobId)}`;
  }

  private async requestJson(path: string, init: RequestInit, signal?: AbortSignal): Promise<JsonObject> {
    return (await this.requestJsonWithResponse(path, init, signal)).body;
  }

  /** One deadline over headers and body (the body is read under the same signal), and the caller's signal. */
  private async requestJsonWithResponse(
    path: string,
    init: RequestInit,
    signal?: AbortSignal,
  ): Promise<{ body: JsonObject; response: Response }> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const response = await this.fetch(path, {
      ...init,
      signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
    });
    if (!response.ok) throw await this.failure(response);
    let text: string;
    try {
      text = await readTextUpTo(response, MAX_JSON_ANSWER_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge)
        throw this.invalid(
          `${init.method ?? 'GET'} ${path} answered more than ${MAX_JSON_ANSWER_BYTES} bytes`,
        );
      throw this.unavailable(error);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw this.invalid(`${init.method ?? 'GET'} ${path} answered something that is not JSON`);
    }
    if (!isObject(body))
      throw this.invalid(`${init.method ?? 'GET'} ${path} answered JSON that is not an object`);
    return { body, response };
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, init);
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  private unavailable(error: unknown): ProviderUnavailableError {
    const { name, cause } = errorLike(error);
    const message =
      name === 'TimeoutError' || name === 'AbortError'
        ? `${this.name} did not answer within ${this.timeoutMs} ms`
        : `${this.name} is unreachable: ${errorText(error)}${cause ? ` (${errorText(cause)})` : ''}`;
    return new ProviderUnavailableError(this.name, message, { cause: error });
  }

  private invalid(message: string): ProviderRejectedError {
    return new ProviderRejectedError(this.name, 200, 'INVALID_RESPONSE', `${this.name}: ${message}`);
  }

  /** 408, 429 and 5xx are worth retrying; any other refusal will not change by asking again. */
  private async failure(response: Response): Promise<Error> {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    const detail = await readTextUpTo(response, MAX_ERROR_BODY_BYTES)
      .then((text) => {
        const problem: unknown = JSON.parse(text);
        return isObject(problem) && typeof problem.detail === 'string' ? problem.detail : undefined;
      })
      .catch(() => undefined);
    const message = `${this.name} answered ${response.status}${detail ? `: ${detail}` : ''}`;
    const { status } = response;
    if (status === 408 || status === 429 || status >= 500) {
      return new ProviderUnavailableError(this.name, message, { status, retryAfterMs });
    }
    return new ProviderRejectedError(this.name, status, `HTTP_${status}`, message);
  }
}
