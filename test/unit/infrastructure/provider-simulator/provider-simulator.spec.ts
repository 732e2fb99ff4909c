import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type RunningProviderSimulator,
  startProviderSimulator,
} from '../../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { SERVER_TIMEOUTS } from '../../../../src/infrastructure/http/server-timeouts.js';
import { PROVIDER_NAMES, type ProviderName } from '../../../../src/domain/report/provider-data.js';

const LATENCY_MS = 150;
const TRANSACTIONS = 2500;
const period = { from: '2024-01-01', to: '2024-12-31' };
/**
 * The simulators' clock, advanced by the tests instead of sleeping: "still processing" and "done after the
 * latency" then hold however slow the machine is.
 */
let clockMs = Date.parse('2026-01-01T00:00:00Z');
const now = () => clockMs;
const advance = (ms: number) => {
  clockMs += ms;
};
/** Sequential HTTP calls by the hundred: generous on a loaded machine. */
const MANY_CALLS_TIMEOUT_MS = 120_000 * Number(process.env.TEST_WAIT_SCALE ?? 1);

let sim: RunningProviderSimulator;
beforeAll(async () => {
  sim = await startProviderSimulator({
    port: 0,
    transactions: TRANSACTIONS,
    latencyMs: LATENCY_MS,
    seed: 42,
    now,
  });
});
afterAll(() => sim.close());

const submit = (provider: ProviderName, taxId: string, body: unknown = { subject: { taxId }, period }) =>
  fetch(`${sim.url}/${provider}/jobs`, { method: 'POST', body: JSON.stringify(body) });

const jobIdOf = async (provider: ProviderName, taxId: string): Promise<string> => {
  const res = await submit(provider, taxId);
  expect(res.status).toBe(202);
  return ((await res.json()) as { jobId: string }).jobId;
};
const statusOf = async (provider: ProviderName, jobId: string) => {
  const res = await fetch(`${sim.url}/${provider}/jobs/${jobId}`);
  return { res, body: (await res.json()) as Record<string, unknown> };
};
const sha256 = async (res: Response) =>
  createHash('sha256')
    .update(Buffer.from(await res.arrayBuffer()))
    .digest('hex');

describe('server', () => {
  it("keeps idle connections as long as the app's server does, not Node's default 5 s", async () => {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) =>
      request(`${sim.url}/health`, { agent: new Agent({ keepAlive: true }) }, resolve)
        .on('error', reject)
        .end(),
    );
    res.resume();
    expect(res.headers['keep-alive']).toBe(`timeout=${SERVER_TIMEOUTS.keepAliveTimeoutMs / 1000}`);
  });
});

describe('job lifecycle', () => {
  it('accepts a job with 202 and reports processing, with Retry-After, until the latency has passed', async () => {
    const res = await submit('credit-bureau', 'LIFE-1');
    expect(res.status).toBe(202);
    const body = (await res.json()) as { jobId: string; status: string };
    expect(body).toEqual({ jobId: expect.any(String), status: 'processing' });

    const early = await statusOf('credit-bureau', body.jobId);
    expect(early.res.status).toBe(200);
    expect(early.body).toMatchObject({ jobId: body.jobId, status: 'processing' });
    expect(early.res.headers.get('retry-after')).toBe('1');
    expect(early.body.retryAfterMs).toBeLessThanOrEqual(LATENCY_MS);

    const notReady = await fetch(`${sim.url}/credit-bureau/jobs/${body.jobId}/result`);
    expect(notReady.status).toBe(409);
    expect(notReady.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await notReady.json()).toMatchObject({ status: 409, title: expect.any(String) });

    advance(LATENCY_MS + 20);
    const later = await statusOf('credit-bureau', body.jobId);
    expect(later.body).toEqual({ jobId: body.jobId, status: 'done' });
    expect(later.res.headers.get('retry-after')).toBeNull();
  });

  it('answers 404 for an unknown, tampered, or other-provider job id', async () => {
    const jobId = await jobIdOf('tax-authority', 'LIFE-2');
    const [payload, mac] = jobId.split('.') as [string, string];
    const forged = Buffer.from(
      Buffer.from(payload, 'base64url')
        .toString()
        .replace(/"at":\d+/, '"at":0'),
    ).toString('base64url');
    for (const [provider, id] of [
      ['tax-authority', 'nope'],
      ['tax-authority', `${forged}.${mac}`],
      ['credit-bureau', jobId],
    ] as const) {
      const res = await fetch(`${sim.url}/${provider}/jobs/${id}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await fetch(`${sim.url}/tax-authority/jobs/nope/result`)).status).toBe(404);
    expect((await fetch(`${sim.url}/nowhere/jobs`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it.each([
    [{ subject: { taxId: 'bad id!' }, period }, 'subject.taxId'],
    [{ subject: { taxId: 'x'.repeat(65) }, period }, 'subject.taxId'],
    [{ period }, 'subject.taxId'],
    [{ subject: { taxId: 'OK-1' }, period: { from: '2024-02-30', to: '2024-03-01' } }, 'period.from'],
    [{ subject: { taxId: 'OK-1' }, period: { from: '2024-05-01', to: '2024-04-01' } }, 'period.to'],
    [{ subject: { taxId: 'OK-1' } }, 'period'],
  ])('rejects %j with 400 naming the field', async (body, field) => {
    const res = await submit('bank-transactions', '', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: 400, errors: [{ field }] });
  });

  it('rejects malformed JSON with 400', async () => {
    const res = await fetch(`${sim.url}/bank-transactions/jobs`, { method: 'POST', body: '{"subject":' });
    expect(res.status).toBe(400);
  });

  it('still knows every job after a restart with the same seed, and none with another seed', async () => {
    const jobId = await jobIdOf('bank-transactions', 'RESTART-1');
    const before = await fetch(`${sim.url}/bank-transactions/jobs/${jobId}`);
    expect(before.status).toBe(200);
    advance(LATENCY_MS + 20);
    const reborn = await startProviderSimulator({
      port: 0,
      transactions: TRANSACTIONS,
      latencyMs: LATENCY_MS,
      seed: 42,
      now,
    });
    const stranger = await startProviderSimulator({
      port: 0,
      transactions: TRANSACTIONS,
      latencyMs: LATENCY_MS,
      seed: 43,
      now,
    });
    try {
      const status = await fetch(`${reborn.url}/bank-transactions/jobs/${jobId}`);
      expect(await status.json()).toEqual({ jobId, status: 'done' });
      const fromReborn = await sha256(await fetch(`${reborn.url}/bank-transactions/jobs/${jobId}/result`));
      expect(fromReborn).toBe(await sha256(await fetch(`${sim.url}/bank-transactions/jobs/${jobId}/result`)));
      expect((await fetch(`${stranger.url}/bank-transactions/jobs/${jobId}`)).status).toBe(404);
    } finally {
      await reborn.close();
      await stranger.close();
    }
  });
});

describe('results', () => {
  let bankJob: string;
  beforeAll(async () => {
    bankJob = await jobIdOf('bank-transactions', 'RESULT-1');
    advance(LATENCY_MS + 20);
  });

  it('streams exactly SIM_TRANSACTIONS transactions as NDJSON', async () => {
    const res = await fetch(`${sim.url}/bank-transactions/jobs/${bankJob}/result`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('x-total-count')).toBe(String(TRANSACTIONS));
    const lines = (await res.text()).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(TRANSACTIONS);
    expect(JSON.parse(lines[0])).toMatchObject({ date: '2024-01-01', category: 'salary' });
  });

  it('gives the same bytes to every job about the same subject and period', async () => {
    const again = await jobIdOf('bank-transactions', 'RESULT-1');
    const other = await jobIdOf('bank-transactions', 'RESULT-2');
    advance(LATENCY_MS + 20);
    const first = await sha256(await fetch(`${sim.url}/bank-transactions/jobs/${bankJob}/result`));
    expect(await sha256(await fetch(`${sim.url}/bank-transactions/jobs/${again}/result`))).toBe(first);
    expect(await sha256(await fetch(`${sim.url}/bank-transactions/jobs/${other}/result`))).not.toBe(first);
  });

  it('pages with ?offset=&limit=, announcing the next offset, and the pages add up to the stream', async () => {
    const whole = await (await fetch(`${sim.url}/bank-transactions/jobs/${bankJob}/result`)).text();
    let paged = '';
    let offset: string | null = '0';
    let pages = 0;
    while (offset !== null) {
      const res = await fetch(
        `${sim.url}/bank-transactions/jobs/${bankJob}/result?offset=${offset}&limit=1000`,
      );
      expect(res.headers.get('x-total-count')).toBe(String(TRANSACTIONS));
      paged += await res.text();
      offset = res.headers.get('x-next-offset');
      pages++;
    }
    expect(pages).toBe(3);
    expect(paged).toBe(whole);
    const bad = await fetch(`${sim.url}/bank-transactions/jobs/${bankJob}/result?offset=-1`);
    expect(bad.status).toBe(400);
  });

  it('returns one credit report and the tax filings as JSON', async () => {
    const credit = await jobIdOf('credit-bureau', 'RESULT-1');
    const tax = await jobIdOf('tax-authority', 'RESULT-1');
    advance(LATENCY_MS + 20);
    const report = await (await fetch(`${sim.url}/credit-bureau/jobs/${credit}/result`)).json();
    expect(report).toEqual({
      score: expect.any(Number),
      band: expect.stringMatching(/^(excellent|good|fair|poor|very-poor)$/),
      openAccounts: expect.any(Number),
      delinquencies: expect.any(Number),
      totalDebt: expect.any(Number),
    });
    const filings = await (await fetch(`${sim.url}/tax-authority/jobs/${tax}/result`)).json();
    expect(filings).toEqual({
      filings: [{ year: 2024, income: expect.any(Number), taxPaid: expect.any(Number), currency: 'EUR' }],
    });
  });

  it('stops generating when the reader stops reading (back-pressure)', async () => {
    const big = await startProviderSimulator({ port: 0, transactions: 2_000_000, latencyMs: 0, seed: 1 });
    try {
      const jobId = (
        (await (
          await fetch(`${big.url}/bank-transactions/jobs`, {
            method: 'POST',
            body: JSON.stringify({ subject: { taxId: 'BIG-1' }, period }),
          })
        ).json()) as { jobId: string }
      ).jobId;
      global.gc?.();
      const before = process.memoryUsage();
      // A raw request whose response is never read: the server must stall on a full socket, not buffer
      // ~400 MB of rows in memory (which, without back-pressure, it would produce in about a second).
      const req = request(`${big.url}/bank-transactions/jobs/${jobId}/result`);
      const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
        req.on('response', resolve).end(),
      );
      res.pause();
      await sleep(1500);
      const after = process.memoryUsage();
      const grownMb = (after.heapUsed + after.external - before.heapUsed - before.external) / 2 ** 20;
      expect(grownMb).toBeLessThan(64);
      res.destroy();
    } finally {
      await big.close();
    }
  });
});

describe('subject prefixes', () => {
  it.each([
    ['fail-bank-1', 'bank-transactions'],
    ['fail-credit-1', 'credit-bureau'],
    ['fail-tax-1', 'tax-authority'],
  ] as const)('%s fails only the %s job, after the latency', async (taxId, failing) => {
    const jobs = await Promise.all(PROVIDER_NAMES.map(async (p) => [p, await jobIdOf(p, taxId)] as const));
    expect((await statusOf(failing, jobs.find(([p]) => p === failing)![1])).body.status).toBe('processing');
    advance(LATENCY_MS + 20);
    for (const [provider, jobId] of jobs) {
      const { body } = await statusOf(provider, jobId);
      if (provider === failing) {
        expect(body).toEqual({
          jobId,
          status: 'failed',
          error: { code: expect.any(String), message: expect.any(String) },
        });
        const result = await fetch(`${sim.url}/${provider}/jobs/${jobId}/result`);
        expect(result.status).toBe(409);
      } else {
        expect(body).toEqual({ jobId, status: 'done' });
      }
    }
  });

  it('slow multiplies the latency by ten', async () => {
    const slow = await jobIdOf('tax-authority', 'slow-1');
    const normal = await jobIdOf('tax-authority', 'normal-1');
    const submitted = await statusOf('tax-authority', slow);
    expect(submitted.body.retryAfterMs).toBeGreaterThan(LATENCY_MS * 9);
    expect(submitted.res.headers.get('retry-after')).toBe(String(Math.ceil((LATENCY_MS * 10) / 1000)));
    advance(LATENCY_MS * 2);
    expect((await statusOf('tax-authority', normal)).body.status).toBe('done');
    expect((await statusOf('tax-authority', slow)).body.status).toBe('processing');
    advance(LATENCY_MS * 8 + 50);
    expect((await statusOf('tax-authority', slow)).body.status).toBe('done');
  });

  it(
    'flaky answers about 30 % of calls on every endpoint with 503 and Retry-After: 1',
    async () => {
      const jobId = await (async () => {
        for (;;) {
          const res = await submit('bank-transactions', 'flaky-1');
          if (res.status === 202) return ((await res.json()) as { jobId: string }).jobId;
          expect([429, 503]).toContain(res.status);
        }
      })();
      advance(LATENCY_MS + 20);
      const counts = new Map<number, number>();
      const calls = 900;
      for (let i = 0; i < calls; i++) {
        const url =
          i % 3 === 0
            ? `${sim.url}/bank-transactions/jobs/${jobId}`
            : `${sim.url}/bank-transactions/jobs/${jobId}/result?offset=${i}&limit=1`;
        const res = await fetch(url);
        await res.arrayBuffer();
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        if (res.status !== 200) expect(res.headers.get('retry-after')).toBe('1');
      }
      expect((counts.get(503) ?? 0) / calls).toBeGreaterThan(0.25);
      expect((counts.get(503) ?? 0) / calls).toBeLessThan(0.35);
      expect((counts.get(200) ?? 0) / calls).toBeGreaterThan(0.6);
      expect([...counts.keys()].sort()).toEqual(expect.arrayContaining([200, 503]));
      // Everyone else is unaffected.
      const steady = await jobIdOf('credit-bureau', 'steady-1');
      for (let i = 0; i < 50; i++)
        expect((await fetch(`${sim.url}/credit-bureau/jobs/${steady}`)).status).toBe(200);
    },
    MANY_CALLS_TIMEOUT_MS,
  );
});

describe('Idempotency-Key on submit', () => {
  const submitWithKey = (
    provider: ProviderName,
    taxId: string,
    key: string,
    body: unknown = { subject: { taxId }, period },
  ) =>
    fetch(`${sim.url}/${provider}/jobs`, {
      method: 'POST',
      headers: { 'idempotency-key': key },
      body: JSON.stringify(body),
    });

  it('answers the same job for the same key and creates no second one; without a key every submit is a job', async () => {
    const first = (await (await submitWithKey('credit-bureau', 'IDEM-1', 'k-1')).json()) as { jobId: string };
    advance(5);
    const again = await submitWithKey('credit-bureau', 'IDEM-1', 'k-1');
    expect(again.status).toBe(202);
    expect(((await again.json()) as { jobId: string }).jobId).toBe(first.jobId);
    expect(sim.jobsCreated('credit-bureau', 'IDEM-1')).toBe(1);
    // A key is per provider; no key means a new job each time.
    await submitWithKey('tax-authority', 'IDEM-1', 'k-1');
    expect(sim.jobsCreated('tax-authority', 'IDEM-1')).toBe(1);
    await jobIdOf('credit-bureau', 'IDEM-1');
    expect(sim.jobsCreated('credit-bureau', 'IDEM-1')).toBe(2);
  });

  it('refuses a key reused with another body (422), and a malformed key (400)', async () => {
    await submitWithKey('bank-transactions', 'IDEM-2', 'k-2');
    const other = await submitWithKey('bank-transactions', 'IDEM-3', 'k-2');
    expect(other.status).toBe(422);
    expect(sim.jobsCreated('bank-transactions', 'IDEM-3')).toBe(0);
    expect((await submitWithKey('bank-transactions', 'IDEM-4', 'x'.repeat(300))).status).toBe(400);
  });
});
