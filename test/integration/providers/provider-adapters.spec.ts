import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ProviderAdapter,
  ProviderRejectedError,
  type ProviderRequest,
  ProviderUnavailableError,
} from '../../../src/application/ports/provider.port.js';
import type { CreditReport, TaxFilings, Transaction } from '../../../src/domain/report/provider-data.js';
import {
  type RunningProviderSimulator,
  simulatorProviderUrls,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { BankTransactionsProvider } from '../../../src/infrastructure/providers/bank-transactions.provider.js';
import { CreditBureauProvider } from '../../../src/infrastructure/providers/credit-bureau.provider.js';
import type { ProviderUrls } from '../../../src/infrastructure/providers/provider-options.js';
import { TaxAuthorityProvider } from '../../../src/infrastructure/providers/tax-authority.provider.js';

const TRANSACTIONS = 20_000;
const LATENCY_MS = 120;
const period = { from: '2024-01-01', to: '2024-12-31' };
const request = (taxId: string): ProviderRequest => ({ subject: { taxId }, period });

let sim: RunningProviderSimulator;
let urls: ProviderUrls;
beforeAll(async () => {
  sim = await startProviderSimulator({ port: 0, transactions: TRANSACTIONS, latencyMs: LATENCY_MS, seed: 7 });
  urls = simulatorProviderUrls(sim.url);
});
afterAll(() => sim.close());

/** What the saga does, compressed: retry transient errors (briefly here), wait while processing. */
const retrying = async <T>(
  call: () => Promise<T>,
  transient: { count: number } = { count: 0 },
): Promise<T> => {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ProviderUnavailableError)) throw error;
      transient.count++;
      await sleep(5);
    }
  }
};
const runJob = async (adapter: ProviderAdapter, taxId: string, transient = { count: 0 }) => {
  const { jobId } = await retrying(() => adapter.submit(request(taxId)), transient);
  for (;;) {
    const state = await retrying(() => adapter.poll(jobId), transient);
    if (state.status !== 'processing') return { jobId, state };
    expect(state.retryAfterMs).toBeLessThanOrEqual(LATENCY_MS);
    await sleep(Math.min(state.retryAfterMs ?? 20, 50));
  }
};
const readLines = async (stream: Readable): Promise<string[]> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  expect(lines.pop()).toBe('');
  return lines;
};

describe('the three adapters against the simulator', () => {
  it('bank: submit → poll until done → stream exactly every transaction as NDJSON', async () => {
    const bank = new BankTransactionsProvider(urls);
    const { jobId, state } = await runJob(bank, 'ADAPT-1');
    expect(state).toEqual({ status: 'done' });
    const stream = await bank.openResult(jobId);
    let rows = 0;
    let pending = '';
    let first: Transaction | undefined;
    for await (const chunk of stream) {
      const text = pending + (chunk as Buffer).toString('utf8');
      const lines = text.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const tx = JSON.parse(line) as Transaction;
        first ??= tx;
        rows++;
      }
    }
    expect(pending).toBe('');
    expect(rows).toBe(TRANSACTIONS);
    expect(first).toMatchObject({ date: '2024-01-01', category: 'salary', currency: 'EUR' });
  });

  it('credit: the result is one NDJSON line holding the credit report', async () => {
    const credit = new CreditBureauProvider(urls);
    const { jobId, state } = await runJob(credit, 'ADAPT-1');
    expect(state.status).toBe('done');
    const lines = await readLines(await credit.openResult(jobId));
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]) as CreditReport;
    expect(report.score).toBeGreaterThanOrEqual(300);
    expect(report.score).toBeLessThanOrEqual(850);
  });

  it('tax: the result is one NDJSON line holding the filings', async () => {
    const tax = new TaxAuthorityProvider(urls);
    const { jobId } = await runJob(tax, 'ADAPT-1');
    const lines = await readLines(await tax.openResult(jobId));
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]) as TaxFilings).filings.map((f) => f.year)).toEqual([2024]);
  });

  it('reports processing with the time left before the latency is over', async () => {
    const tax = new TaxAuthorityProvider(urls);
    const { jobId } = await tax.submit(request('ADAPT-2'));
    const state = await tax.poll(jobId);
    expect(state.status).toBe('processing');
    expect(state.status === 'processing' && state.retryAfterMs).toBeGreaterThan(0);
  });

  it('fail-bank: the bank job ends failed with a code and message, the other providers succeed', async () => {
    const { state } = await runJob(new BankTransactionsProvider(urls), 'fail-bank-7');
    expect(state).toEqual({ status: 'failed', code: expect.any(String), message: expect.any(String) });
    expect((await runJob(new CreditBureauProvider(urls), 'fail-bank-7')).state).toEqual({ status: 'done' });
  });

  it('flaky: some calls throw ProviderUnavailableError with retryAfterMs 1000, and a retrying client finishes', async () => {
    const bank = new BankTransactionsProvider(urls);
    const seen: ProviderUnavailableError[] = [];
    const { jobId } = await retrying(() => bank.submit(request('flaky-adapt')));
    for (let i = 0; i < 40; i++) {
      await bank.poll(jobId).catch((error: unknown) => {
        if (!(error instanceof ProviderUnavailableError)) throw error;
        seen.push(error);
      });
    }
    expect(seen.length).toBeGreaterThan(3);
    for (const error of seen) {
      expect(error.retryAfterMs).toBe(1000);
      expect([429, 503]).toContain(error.status);
      expect(error.provider).toBe('bank-transactions');
    }
    const transient = { count: 0 };
    const { jobId: finished, state } = await runJob(bank, 'flaky-adapt-2', transient);
    expect(state.status).toBe('done');
    const lines = await retrying(async () => readLines(await bank.openResult(finished)), transient);
    expect(lines).toHaveLength(TRANSACTIONS);
  });

  it('a refused request is a ProviderRejectedError, not worth retrying', async () => {
    const bank = new BankTransactionsProvider(urls);
    const invalid = await bank.submit(request('not valid!')).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ProviderRejectedError);
    expect(invalid).toMatchObject({ status: 400, provider: 'bank-transactions' });
    const unknown = await bank.poll('no-such-job').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ProviderRejectedError);
    expect(unknown).toMatchObject({ status: 404 });
  });
});

describe('transport failures are transient', () => {
  const listen = async (server: Server): Promise<string> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  const urlsFor = (base: string): ProviderUrls => ({
    'bank-transactions': base,
    'credit-bureau': base,
    'tax-authority': base,
  });

  it('nobody listening', async () => {
    const server = createServer();
    const base = await listen(server);
    await close(server);
    const error = await new CreditBureauProvider(urlsFor(base)).poll('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
  });

  it('no answer within the request timeout', async () => {
    const server = createServer(() => undefined);
    const base = await listen(server);
    try {
      const started = Date.now();
      const error = await new TaxAuthorityProvider(urlsFor(base), { requestTimeoutMs: 200 })
        .submit(request('T-1'))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect((error as Error).message).toMatch(/within 200 ms/);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await close(server);
    }
  });

  it('a 503 with an HTTP-date Retry-After', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(503, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() }).end();
    });
    const base = await listen(server);
    try {
      const error = (await new BankTransactionsProvider(urlsFor(base))
        .poll('x')
        .catch((e: unknown) => e)) as ProviderUnavailableError;
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect(error.retryAfterMs).toBeGreaterThan(28_000);
      expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
    } finally {
      await close(server);
    }
  });

  it('a result stream cut off half-way errors with ProviderUnavailableError', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"id":"1"}\n{"id":"2"}\n{"id"');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const base = await listen(server);
    try {
      const stream = await new BankTransactionsProvider(urlsFor(base)).openResult('x');
      const error = await readLines(stream).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
    } finally {
      await close(server);
    }
  });

  /** Open sockets at the fake provider: a call that gave up must also have closed its socket. */
  const track = (server: Server) => {
    const open = new Set<Socket>();
    server.on('connection', (socket) => {
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    });
    return open;
  };
  const waitFor = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('a JSON answer whose body drips is cut at the total deadline (headers and body), its socket closed', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":');
      const timer = setInterval(() => res.write(' '), 50);
      res.once('close', () => clearInterval(timer));
    });
    const open = track(server);
    const base = await listen(server);
    try {
      const started = Date.now();
      const error = await new CreditBureauProvider(urlsFor(base), { requestTimeoutMs: 300 })
        .poll('x')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
      await waitFor(() => open.size === 0, 'the socket is closed');
    } finally {
      await close(server);
    }
  });

  it('a result stream that stops sending is cut after the idle-body timeout, its socket closed', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"id":"1"}\n');
    });
    const open = track(server);
    const base = await listen(server);
    try {
      const started = Date.now();
      const stream = await new BankTransactionsProvider(urlsFor(base), {
        idleBodyTimeoutMs: 300,
      }).openResult('x');
      const error = await readLines(stream).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
      await waitFor(() => open.size === 0, 'the socket is closed');
    } finally {
      await close(server);
    }
  });

  it('a result stream that drips a byte at a time is cut at its total deadline', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"id":"1"}\n');
      const timer = setInterval(() => res.write('{'), 50);
      res.once('close', () => clearInterval(timer));
    });
    const open = track(server);
    const base = await listen(server);
    try {
      const stream = await new BankTransactionsProvider(urlsFor(base), {
        idleBodyTimeoutMs: 300,
        resultTimeoutMs: 600,
      }).openResult('x');
      const error = await readLines(stream).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      await waitFor(() => open.size === 0, 'the socket is closed');
    } finally {
      await close(server);
    }
  });

  it("the caller's signal (cancel, lost lease, provider deadline) aborts a call in flight and closes its socket", async () => {
    const server = createServer(() => undefined);
    const open = track(server);
    const base = await listen(server);
    try {
      const abort = new AbortController();
      const call = new CreditBureauProvider(urlsFor(base)).poll('x', { signal: abort.signal });
      await waitFor(() => open.size === 1, 'the request is in flight');
      abort.abort(new Error('cancelled'));
      await expect(call).rejects.toThrow();
      await waitFor(() => open.size === 0, 'the socket is closed');
    } finally {
      await close(server);
    }
  });

  /**
   * A provider that answers 200 and then JSON without end (a 1 GB credit report on one line), as
   * fast as the client reads. Counts the bytes it got out before the client closed the socket.
   */
  const endlessJson = (status = 200) => {
    const sent = { bytes: 0 };
    const chunk = Buffer.alloc(64 * 1024, '9');
    const server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.write('{"score":');
      // Stops at 64 MiB (then the JSON is cut, never closed): enough to tell a cap from none, and a
      // client without a cap does not take the machine's memory.
      const pump = () => {
        while (!res.destroyed && sent.bytes < 64 * 1024 * 1024) {
          sent.bytes += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
    return { server, sent };
  };

  for (const [what, call] of [
    ['a credit result', (p: ProviderAdapter) => p.openResult('x').then(readLines)],
    ['a tax result', (p: ProviderAdapter) => p.openResult('x').then(readLines)],
    ['a poll', (p: ProviderAdapter) => p.poll('x')],
    ['a submit', (p: ProviderAdapter) => p.submit(request('T-1'))],
  ] as const) {
    it(`${what} answering JSON without end is refused at the size cap, not buffered until the deadline`, async () => {
      const { server, sent } = endlessJson();
      const open = track(server);
      const base = await listen(server);
      try {
        const adapter =
          what === 'a tax result'
            ? new TaxAuthorityProvider(urlsFor(base), { requestTimeoutMs: 60_000 })
            : new CreditBureauProvider(urlsFor(base), { requestTimeoutMs: 60_000 });
        const error = await call(adapter).catch((e: unknown) => e);
        // Permanent: asking again would download it all again.
        expect(error).toBeInstanceOf(ProviderRejectedError);
        await waitFor(() => open.size === 0, 'the socket is closed');
        // Counted at the provider: it got out little more than the cap (plus socket buffers).
        expect(sent.bytes).toBeLessThan(16 * 1024 * 1024);
      } finally {
        await close(server);
      }
    }, 30_000);
  }

  it('an error answer (503) with a body without end is read no further than a small cap', async () => {
    const { server, sent } = endlessJson(503);
    const open = track(server);
    const base = await listen(server);
    try {
      const error = await new CreditBureauProvider(urlsFor(base), { requestTimeoutMs: 60_000 })
        .poll('x')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      await waitFor(() => open.size === 0, 'the socket is closed');
      expect(sent.bytes).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await close(server);
    }
  }, 30_000);

  it("the caller's signal during a dripping result stream (cancel mid-body) ends it and closes its socket", async () => {
    let drips = 0;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"id":"1"}\n');
      const timer = setInterval(() => res.write('{', () => drips++), 50);
      res.once('close', () => clearInterval(timer));
    });
    const open = track(server);
    const base = await listen(server);
    try {
      const abort = new AbortController();
      const stream = await new BankTransactionsProvider(urlsFor(base)).openResult('x', {
        signal: abort.signal,
      });
      const reading = readLines(stream).catch((e: unknown) => e);
      await waitFor(() => drips >= 3, 'the body is dripping');
      abort.abort(new Error('cancelled'));
      expect(await reading).toBeInstanceOf(ProviderUnavailableError);
      await waitFor(() => open.size === 0, 'the socket is closed');
    } finally {
      await close(server);
    }
  });

  it('a slow POST /jobs (no headers within the request timeout) ends the submit and closes its socket', async () => {
    const server = createServer(() => undefined);
    const open = track(server);
    const base = await listen(server);
    try {
      const error = await new BankTransactionsProvider(urlsFor(base), { requestTimeoutMs: 300 })
        .submit({ ...request('T-1'), idempotencyKey: 'k' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderUnavailableError);
      await waitFor(() => open.size === 0, 'the socket is closed');
    } finally {
      await close(server);
    }
  });

  it('a submit sends the Idempotency-Key it is given', async () => {
    const keys: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      keys.push(req.headers['idempotency-key'] as string | undefined);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"jobId":"j1","status":"processing"}');
    });
    const base = await listen(server);
    try {
      await new TaxAuthorityProvider(urlsFor(base)).submit({
        ...request('T-1'),
        idempotencyKey: 'conflux:a:r:tax:submit',
      });
      expect(keys).toEqual(['conflux:a:r:tax:submit']);
    } finally {
      await close(server);
    }
  });
});
