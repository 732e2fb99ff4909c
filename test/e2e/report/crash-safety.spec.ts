import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import {
  type RunningProviderSimulator,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { clusterUrl, createTestDatabase } from '../../support/database.js';
import { compiledServerEnv, type NodeProcess, startNodeProcess } from '../../support/node-process.js';
import { query } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * Kills the real process with SIGKILL (no graceful stop) while providers are processing and again while
 * files are being generated, restarts it, and checks that every report reaches exactly one final state
 * with complete files and no duplicated event. The simulator runs in this test process, so it survives
 * the kills like a real provider would.
 */
const MAIN = 'dist/src/main.js';
const ROWS = 450_000;
const REPORTS = 4;

describe('crash safety (SIGKILL, e2e)', () => {
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let simulator: RunningProviderSimulator;
  let port: number;
  let env: NodeJS.ProcessEnv;
  let conflux: NodeProcess | undefined;
  const tenantId = `c${randomBytes(5).toString('hex')}`;
  const operatorToken = randomBytes(24).toString('base64url');
  let token = '';
  const base = () => `http://127.0.0.1:${port}`;

  const start = () => startNodeProcess(MAIN, env, 'Conflux listening');

  const kill = async () => {
    await conflux!.kill();
    conflux = undefined;
  };

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token || operatorToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  const events = (where = '') =>
    query<{ stream_name: string; revision: string; type: string; data: any }>(
      control.url,
      `SELECT stream_name, revision, type, data FROM events WHERE category = 'report' ${where} ORDER BY stream_name, revision`,
    );

  const requestReports = async (prefix: string): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < REPORTS; i++) {
      const created = await api('POST', '/v1/reports', { subject: { taxId: `${prefix}-${i}` } });
      expect(created.status).toBe(202);
      ids.push(created.body.id as string);
    }
    return ids;
  };

  /** Exactly one final state, complete files, and every event at most once where once is the rule. */
  const expectExactlyOnce = async (ids: string[]) => {
    // Polled every 250 ms (not 25): four requests at a time are load of their own on a busy machine.
    await waitUntil(
      'every report is final',
      async () => {
        const states = await Promise.all(ids.map((id) => api('GET', `/v1/reports/${id}`)));
        return states.every((s) => ['ready', 'failed', 'cancelled'].includes(s.body.status));
      },
      180_000,
      250,
    );
    for (const id of ids) {
      const report = (await api('GET', `/v1/reports/${id}`)).body;
      expect(report.status).toBe('ready');
      const csv = report.files.find((f: { name: string }) => f.name === 'transactions.csv');
      const bytes = Buffer.from(await (await fetch(csv.url)).arrayBuffer());
      expect(bytes.length).toBe(csv.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(csv.sha256);
      expect(bytes.toString('utf8').trimEnd().split('\n').length).toBe(ROWS + 1);

      const stream = (await events()).filter((e) => e.stream_name.endsWith(`.${id}`));
      expect(stream.map((e) => Number(e.revision))).toEqual(stream.map((_, i) => i));
      const count = (type: string, provider?: string) =>
        stream.filter((e) => e.type === type && (!provider || e.data.provider === provider)).length;
      expect(count('ReportRequested')).toBe(1);
      expect(count('ReportGenerationStarted')).toBe(1);
      expect(count('ReportReady')).toBe(1);
      expect(count('ReportFailed') + count('ReportCancelled')).toBe(0);
      for (const provider of ['bank-transactions', 'credit-bureau', 'tax-authority'] as const) {
        expect(count('ProviderJobSubmitted', provider)).toBe(1);
        // Counted at the provider, which the log cannot see: exactly one job per report and provider.
        expect(simulator.jobsCreated(provider, report.subject.taxId as string)).toBe(1);
        expect(count('ProviderResultRecorded', provider)).toBe(1);
        const attempts = stream
          .filter((e) => e.type === 'ProviderPollScheduled' && e.data.provider === provider)
          .map((e) => e.data.attempt as number);
        expect(new Set(attempts).size).toBe(attempts.length);
      }
    }
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    control = await createTestDatabase('conflux_crash');
    dataDir = await mkdtemp(join(tmpdir(), 'conflux-crash-'));
    simulator = await startProviderSimulator({ port: 0, transactions: ROWS, latencyMs: 2500, seed: 7 });
    port = await freePort();
    env = compiledServerEnv(
      { port, dataDir, databaseUrl: control.url, operatorToken, providersUrl: simulator.url },
      { POLL_BACKOFF_BASE_MS: '100', WORK_LEASE_MS: '1500' },
    );
    conflux = await start();
    const created = await api('POST', '/v1/tenants', {
      id: tenantId,
      name: 'Crash Test Bank',
      admin: { username: 'root', password: 'root-password-1' },
    });
    expect(created.status).toBe(201);
    const login = await api('POST', '/v1/auth/login', {
      tenantId,
      username: 'root',
      password: 'root-password-1',
    });
    token = login.body.accessToken as string;
  }, 240_000);

  afterAll(async () => {
    if (conflux) await kill();
    await simulator?.close();
    await query(clusterUrl(), `DROP DATABASE IF EXISTS "conflux_tenant_${tenantId}" WITH (FORCE)`).catch(
      () => undefined,
    );
    await control?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('recovers reports killed while their providers were still processing', async () => {
    const ids = await requestReports('processing');
    await waitUntil('every provider job is submitted', async () => {
      const submitted = await events(`AND type = 'ProviderJobSubmitted'`);
      return submitted.length === REPORTS * 3;
    });
    // The kill lands while providers are still processing (a slow machine may have finished a few).
    expect((await events(`AND type = 'ProviderResultRecorded'`)).length).toBeLessThan(REPORTS * 3);
    await kill();
    conflux = await start();
    await expectExactlyOnce(ids);
  }, 480_000);

  it('recovers reports killed while their files were being generated', async () => {
    const ids = await requestReports('generating');
    const inGeneration = async () => {
      const rows = await events(`AND type IN ('ReportGenerationStarted', 'ReportReady')`);
      const started = rows.filter(
        (e) => e.type === 'ReportGenerationStarted' && ids.some((id) => e.stream_name.endsWith(id)),
      );
      const ready = new Set(rows.filter((e) => e.type === 'ReportReady').map((e) => e.stream_name));
      return started.filter((e) => !ready.has(e.stream_name)).length;
    };
    await waitUntil('a report is generating its files', async () => (await inGeneration()) > 0, 180_000, 5);
    await kill();
    expect(await inGeneration()).toBeGreaterThan(0); // the kill really landed mid-generation
    conflux = await start();
    await expectExactlyOnce(ids);
  }, 480_000);
});
