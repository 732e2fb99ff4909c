import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import { type NodeProcess, startNodeProcess } from '../../support/node-process.js';

/**
 * The embedded default as a new user runs it (`npm start` without DATABASE_URL): the compiled server
 * starts its own PostgreSQL under DATA_DIR on a free port — a different port at every start. A tenant
 * made in the first run must keep working after each restart (issue 6, item 1: it answered 500 with
 * ECONNREFUSED to the previous run's port while readiness said 200).
 */
const MAIN = 'dist/src/main.js';
const START_TIMEOUT_MS = 180_000;

describe('restarting the embedded default (e2e)', () => {
  let dataDir: string;
  let port: number;
  let env: NodeJS.ProcessEnv;
  let conflux: NodeProcess | undefined;
  const operatorToken = randomBytes(24).toString('base64url');
  const tenantId = `r${randomBytes(5).toString('hex')}`;
  const admin = { username: 'root', password: 'root-password-1' };

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  const start = async () => {
    conflux = await startNodeProcess(MAIN, env, 'Conflux listening', START_TIMEOUT_MS);
  };
  /** A graceful stop, as Ctrl-C: the app closes, then the embedded cluster stops. */
  const stop = async () => {
    await conflux?.kill('SIGTERM');
    expect(await conflux?.exited).toBe(0);
    conflux = undefined;
  };

  const login = async () => {
    const response = await api('POST', '/v1/auth/login', '', { tenantId, ...admin });
    expect({ status: response.status, body: response.body }).toMatchObject({ status: 200 });
    return response.body.accessToken as string;
  };

  /** Requests a report and waits (awaiting the condition, no fixed sleep) until it is `ready`. */
  const readyReport = async (token: string): Promise<string> => {
    const created = await api('POST', '/v1/reports', token, {
      subject: { taxId: `tax-${randomBytes(3).toString('hex')}` },
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const report = await api('GET', `/v1/reports/${id}`, token);
      expect(report.status).toBe(200);
      if (report.body.status === 'ready') return id;
      expect(['failed', 'cancelled']).not.toContain(report.body.status);
      if (Date.now() > deadline) throw new Error(`report ${id} not ready: ${JSON.stringify(report.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    dataDir = await mkdtemp(join(tmpdir(), 'conflux-restart-'));
    // As root, embedded-postgres runs the server as `postgres`, which must traverse DATA_DIR (mkdtemp makes
    // it 0700; a DATA_DIR made by `mkdir` is 0755).
    if (process.getuid?.() === 0) await chmod(dataDir, 0o755);
    port = await freePort();
    // No DATABASE_URL: the embedded default. Everything else on free ports, so runs never collide.
    const { DATABASE_URL: _d, TENANT_DATABASE_URL_TEMPLATE: _t, ...inherited } = process.env;
    env = {
      ...inherited,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      SIM_PORT: String(await freePort()),
      SIM_LATENCY_MS: '100',
      SIM_TRANSACTIONS: '50',
      DATA_DIR: dataDir,
      OPERATOR_TOKEN: operatorToken,
      POLL_BACKOFF_BASE_MS: '100',
    };
  });

  afterAll(async () => {
    await conflux?.kill();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps a tenant made before across two restarts: login, list and a new ready report', async () => {
    await start();
    const created = await api('POST', '/v1/tenants', operatorToken, {
      id: tenantId,
      name: 'Restart Bank',
      admin,
    });
    expect(created.status).toBe(201);
    const reports = [await readyReport(await login())];
    await stop();

    for (const run of [2, 3]) {
      await start();
      const token = await login();
      const list = await api('GET', '/v1/reports', token);
      expect(list.status).toBe(200);
      expect(list.body.data.map((r: { id: string }) => r.id).sort()).toEqual([...reports].sort());
      const ready = await api('GET', '/health/ready', '');
      expect(ready.status).toBe(200);
      expect(ready.body.details.tenantDatabases).toMatchObject({ status: 'up', unreachable: [] });
      reports.push(await readyReport(token));
      expect(reports).toHaveLength(run);
      await stop();
    }
  }, 600_000);
});
