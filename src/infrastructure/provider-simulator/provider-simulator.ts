import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  isProviderName,
  PROVIDER_NAMES,
  type Period,
  type ProviderName,
} from '../../domain/report/provider-data.js';
import { applyServerTimeouts } from '../http/server-timeouts.js';
import { JobIdCodec, type SimulatedJob } from './simulator-job-id.js';
import {
  creditReport,
  fmix32,
  hash32,
  periodProblem,
  TAX_ID_RE,
  taxFilings,
  transactionSource,
} from './simulator-data.js';

/**
 * The three external providers as one small `node:http` server, each under `/{provider}`:
 *
 *   POST /{provider}/jobs                 { subject: { taxId }, period: { from, to } } → 202 { jobId, status }
 *   GET  /{provider}/jobs/:jobId          → 200 { jobId, status: processing | done | failed, error? }
 *   GET  /{provider}/jobs/:jobId/result   → bank: NDJSON stream (optionally ?offset=&limit=); others: JSON
 *
 * Behaviour follows "Simulator rules" in api.md: deterministic data, latency, and the `fail-*`, `flaky`
 * and `slow` subject prefixes. Jobs are stateless (see simulator-job-id.ts); only idempotency keys are
 * remembered, in memory (a restarted simulator forgets them, as a provider forgets keys after a while).
 */
export type ProviderSimulatorOptions = Readonly<{
  /** 0 picks a free port. */
  port: number;
  /** Rows per bank statement (SIM_TRANSACTIONS). */
  transactions: number;
  /** Time from submission until a job is final (SIM_LATENCY_MS). */
  latencyMs: number;
  seed: number;
  /** Default 127.0.0.1: the simulator is a development tool, not something to expose. */
  host?: string;
  /**
   * Epoch milliseconds; default `Date.now`. Tests inject a clock they advance, so "still processing" and
   * "done after the latency" never race a loaded machine.
   */
  now?: () => number;
}>;

export type RunningProviderSimulator = Readonly<{
  /** Root URL, e.g. `http://127.0.0.1:4010`; each provider lives under `${url}/${provider}`. */
  url: string;
  /**
   * Jobs this simulator created (a submit answered from its idempotency key creates none), per provider
   * and subject: what tests count to prove a report cost each provider exactly one job.
   */
  jobsCreated(provider: ProviderName, taxId: string): number;
  close(): Promise<void>;
}>;

/** The base URL of each provider on a running simulator, the shape ProvidersModule.forRoot takes. */
export const simulatorProviderUrls = (rootUrl: string): Record<ProviderName, string> => {
  const root = rootUrl.replace(/\/+$/, '');
  return {
    'bank-transactions': `${root}/bank-transactions`,
    'credit-bureau': `${root}/credit-bureau`,
    'tax-authority': `${root}/tax-authority`,
  };
};

const FAIL_PREFIX: Readonly<Record<ProviderName, string>> = {
  'bank-transactions': 'fail-bank',
  'credit-bureau': 'fail-credit',
  'tax-authority': 'fail-tax',
};
const SLOW_FACTOR = 10;
/** Share of a flaky subject's calls, per mille, answered 503 — and, rarer, 429 — with `Retry-After: 1`. */
const FLAKY_503_PER_MILLE = 300;
const FLAKY_429_PER_MILLE = 20;
/**
 * ~25 KB per write. Measured over 5M rows: throughput is flat from 64 to 512 rows per chunk, while peak RSS
 * rises with the chunk (about 140 MB at 32 rows, 180 MB at 128, 210 MB at 512), so stay small.
 */
const ROWS_PER_CHUNK = 128;
const MAX_BODY_BYTES = 64 * 1024;
/** Idempotency keys remembered (oldest forgotten first), like a provider's 24 h key retention. */
const MAX_IDEMPOTENCY_KEYS = 100_000;
const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

type JobState =
  | { status: 'processing'; retryAfterMs: number }
  | { status: 'done' }
  | { status: 'failed'; error: { code: string; message: string } };

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(detail);
  }
}

const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
  contentType = 'application/json',
): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': `${contentType}; charset=utf-8`,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
};

const sendProblem = (
  res: ServerResponse,
  problem: HttpProblem,
  headers: Readonly<Record<string, string>> = {},
) =>
  sendJson(
    res,
    problem.status,
    {
      type: `urn:conflux:provider-simulator:${problem.slug}`,
      title: problem.title,
      status: problem.status,
      detail: problem.detail,
      ...problem.extra,
    },
    headers,
    'application/problem+json',
  );

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new HttpProblem(413, 'body-too-large', 'Body too large', 'at most 64 KiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
};

const invalid = (errors: { field: string; message: string }[]): HttpProblem =>
  new HttpProblem(
    400,
    'invalid-request',
    'Invalid request',
    errors.map((e) => `${e.field} ${e.message}`).join('; '),
    {
      errors,
    },
  );

const parseSubmission = (text: string): { taxId: string; period: Period } => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpProblem(400, 'malformed-json', 'Malformed JSON', 'the body is not valid JSON');
  }
  const record = (value: unknown): Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  const subject = record(record(body).subject);
  const period = record(record(body).period);
  const taxId = subject.taxId;
  if (typeof taxId !== 'string' || !TAX_ID_RE.test(taxId)) {
    throw invalid([{ field: 'subject.taxId', message: 'must match ^[A-Za-z0-9-]{1,64}$' }]);
  }
  if (typeof period.from !== 'string' || typeof period.to !== 'string') {
    throw invalid([{ field: 'period', message: 'must be { from, to } as YYYY-MM-DD' }]);
  }
  const parsed = { from: period.from, to: period.to };
  const problem = periodProblem(parsed);
  if (problem) throw invalid([problem]);
  return { taxId, period: parsed };
};

/** A non-negative integer query parameter, or undefined when absent. */
const queryInt = (params: URLSearchParams, name: string): number | undefined => {
  const raw = params.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw invalid([{ field: name, message: 'must be a non-negative integer' }]);
  return Number(raw);
};

export const startProviderSimulator = async (
  options: ProviderSimulatorOptions,
): Promise<RunningProviderSimulator> => {
  const { transactions, latencyMs, seed } = options;
  if (!Number.isSafeInteger(transactions) || transactions < 0)
    throw new RangeError('transactions must be ≥ 0');
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError('latencyMs must be ≥ 0');
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const jobIds = new JobIdCodec(seed);
  const flakyKey = hash32(`flaky:${seed}`);
  // A counter rather than a hash of the request: a client that retries the very same call must be able to
  // get through, and the sequence is still reproducible for a given order of calls.
  let flakyCalls = 0;
  /** Idempotency-Key → the job it created and the body it came with (a different body is refused). */
  const byKey = new Map<string, { provider: ProviderName; body: string; jobId: string }>();
  const created = new Map<string, number>();

  const flake = (taxId: string): void => {
    if (!taxId.startsWith('flaky')) return;
    const roll = fmix32(flakyKey ^ Math.imul(++flakyCalls, 0x9e3779b1)) % 1000;
    if (roll < FLAKY_503_PER_MILLE) {
      throw new HttpProblem(503, 'unavailable', 'Service unavailable', 'the provider is flaky, retry later');
    }
    if (roll < FLAKY_503_PER_MILLE + FLAKY_429_PER_MILLE) {
      throw new HttpProblem(429, 'rate-limited', 'Too many requests', 'slow down and retry later');
    }
  };

  const stateOf = (job: SimulatedJob, now: number): JobState => {
    const latency = job.taxId.startsWith('slow') ? latencyMs * SLOW_FACTOR : latencyMs;
    const remaining = job.submittedAt + latency - now;
    if (remaining > 0) return { status: 'processing', retryAfterMs: remaining };
    if (job.taxId.startsWith(FAIL_PREFIX[job.provider])) {
      return {
        status: 'failed',
        error: {
          code: 'SUBJECT_UNAVAILABLE',
          message: `${job.provider} could not produce data for this subject`,
        },
      };
    }
    return { status: 'done' };
  };

  const findJob = (provider: ProviderName, jobId: string): SimulatedJob => {
    const job = jobIds.decode(jobId);
    if (!job || job.provider !== provider) {
      throw new HttpProblem(404, 'job-not-found', 'Job not found', `no ${provider} job with this id`);
    }
    return job;
  };

  // Integer seconds as HTTP requires, rounded up so a client that honours it never polls too early.
  const retryAfter = (ms: number): Record<string, string> => ({
    'retry-after': String(Math.max(1, Math.ceil(ms / 1000))),
  });

  /**
   * `Idempotency-Key` (optional): the same key with the same body answers the job it first created —
   * same id, same progress — and creates none; the same key with another body is 422.
   */
  const submit = async (provider: ProviderName, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const text = await readBody(req);
    const { taxId, period } = parseSubmission(text);
    flake(taxId);
    const key = req.headers['idempotency-key'];
    if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY_RE.test(key))) {
      throw invalid([{ field: 'Idempotency-Key', message: 'must be 1-255 visible ASCII characters' }]);
    }
    const known = key === undefined ? undefined : byKey.get(`${provider} ${key}`);
    if (known && known.body !== text) {
      throw new HttpProblem(
        422,
        'idempotency-key-reused',
        'Idempotency key reused',
        'this Idempotency-Key was used with another request body',
      );
    }
    const jobId = known?.jobId ?? jobIds.encode({ provider, taxId, period, submittedAt: now() });
    if (!known) {
      created.set(`${provider} ${taxId}`, (created.get(`${provider} ${taxId}`) ?? 0) + 1);
      if (key !== undefined) {
        byKey.set(`${provider} ${key}`, { provider, body: text, jobId });
        if (byKey.size > MAX_IDEMPOTENCY_KEYS) byKey.delete(byKey.keys().next().value!);
      }
    }
    const latency = taxId.startsWith('slow') ? latencyMs * SLOW_FACTOR : latencyMs;
    sendJson(
      res,
      202,
      { jobId, status: 'processing' },
      { location: `/${provider}/jobs/${jobId}`, ...retryAfter(latency) },
    );
  };

  const status = (provider: ProviderName, jobId: string, res: ServerResponse): void => {
    const job = findJob(provider, jobId);
    flake(job.taxId);
    const state = stateOf(job, now());
    if (state.status === 'processing') {
      // retryAfterMs is a simulator extra: Retry-After has whole seconds, too coarse for fast tests.
      sendJson(
        res,
        200,
        { jobId, status: 'processing', retryAfterMs: state.retryAfterMs },
        retryAfter(state.retryAfterMs),
      );
    } else {
      sendJson(res, 200, { jobId, ...state });
    }
  };

  const result = (
    provider: ProviderName,
    jobId: string,
    params: URLSearchParams,
    res: ServerResponse,
  ): void => {
    const job = findJob(provider, jobId);
    flake(job.taxId);
    const state = stateOf(job, now());
    if (state.status === 'processing') {
      throw new HttpProblem(409, 'job-not-ready', 'Result not ready', 'the job is still processing', {
        retryAfterMs: state.retryAfterMs,
      });
    }
    if (state.status === 'failed') {
      throw new HttpProblem(409, 'job-failed', 'Job failed', state.error.message, { error: state.error });
    }
    if (provider === 'credit-bureau') return sendJson(res, 200, creditReport(seed, job.taxId));
    if (provider === 'tax-authority') return sendJson(res, 200, taxFilings(seed, job.taxId, job.period));
    streamTransactions(job, params, res);
  };

  const streamTransactions = (job: SimulatedJob, params: URLSearchParams, res: ServerResponse): void => {
    const offset = queryInt(params, 'offset');
    const limit = queryInt(params, 'limit');
    const source = transactionSource(seed, job.taxId, job.period, transactions);
    const start = Math.min(offset ?? 0, source.total);
    const end = limit === undefined ? source.total : Math.min(source.total, start + limit);
    const headers: Record<string, string> = {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'x-total-count': String(source.total),
    };
    if (end < source.total) headers['x-next-offset'] = String(end);
    res.writeHead(200, headers);
    let next = start;
    let gone = false;
    res.once('close', () => (gone = true));
    // Generate only while the socket keeps up: when write() reports a full buffer, stop and resume on
    // 'drain'. Memory then stays flat however many rows are asked for and however slow the reader is.
    const pump = (): void => {
      while (!gone && next < end) {
        const stop = Math.min(end, next + ROWS_PER_CHUNK);
        const chunk = source.lines(next, stop);
        next = stop;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!gone) res.end();
    };
    pump();
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const parts = url.pathname.split('/').filter((p) => p !== '');
    if (parts.length === 1 && parts[0] === 'health') return sendJson(res, 200, { status: 'ok' });
    const [provider, jobs, jobId, tail, ...rest] = parts;
    if (
      !provider ||
      !isProviderName(provider) ||
      jobs !== 'jobs' ||
      rest.length > 0 ||
      (tail && tail !== 'result')
    ) {
      throw new HttpProblem(404, 'not-found', 'Not found', `no route ${req.method ?? ''} ${url.pathname}`, {
        providers: PROVIDER_NAMES,
      });
    }
    const allow = jobId === undefined ? 'POST' : 'GET';
    if (req.method !== allow) {
      res.setHeader('allow', allow);
      throw new HttpProblem(405, 'method-not-allowed', 'Method not allowed', `use ${allow}`);
    }
    if (jobId === undefined) return submit(provider, req, res);
    if (tail === undefined) return status(provider, jobId, res);
    return result(provider, jobId, url.searchParams, res);
  };

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy(error instanceof Error ? error : undefined);
        return;
      }
      if (error instanceof HttpProblem) {
        const headers: Record<string, string> =
          error.status === 503 || error.status === 429 ? { 'retry-after': '1' } : {};
        const wait = error.extra.retryAfterMs;
        sendProblem(res, error, typeof wait === 'number' ? retryAfter(wait) : headers);
        return;
      }
      sendProblem(res, new HttpProblem(500, 'internal', 'Internal error', 'the simulator failed'));
    });
  });

  // The app's deliberate timeouts, not Node's 5 s keep-alive, which races the app's pooled client.
  applyServerTimeouts(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    jobsCreated: (provider, taxId) => created.get(`${provider} ${taxId}`) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Open result streams and idle keep-alive sockets would otherwise hold close() for minutes.
        server.closeAllConnections();
      }),
  };
};
