import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import {
  type RunningProviderSimulator,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { createTestDatabase } from '../../support/database.js';
import { compiledServerEnv, type NodeProcess, startNodeProcess } from '../../support/node-process.js';
import { query } from '../../support/test-app.js';

/**
 * Two Conflux processes on one control database (issue 8, item 4): each subscription has one consumer at a
 * time, so checkpoints never go back and no lagging instance re-creates work rows of a finished report.
 * One process is killed with SIGKILL mid-run; every report still ends ready exactly once, and the
 * simulator — reached through a counting proxy — sees one job per provider and report.
 */
const MAIN = 'dist/src/main.js';
const REPORTS = 6;
const PROVIDERS = ['bank-transactions', 'credit-bureau', 'tax-authority'] as const;

describe('two instances, one killed (SIGKILL, e2e)', () => {
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let simulator: RunningProviderSimulator;
  let proxy: Server;
  const submits = new Map<string, number>(); // `${provider}/${taxId}` → POST /jobs seen
  const instances: NodeProcess[] = [];
  const ports: number[] = [];
  const tenantId = `c${randomBytes(5).toString('hex')}`;
  const operatorToken = randomBytes(24).toString('base64url');
  let token = '';

  const api = async (port: number, method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token || operatorToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    control = await createTestDatabase('conflux_two');
    dataDir = await mkdtemp(join(tmpdir(), 'conflux-two-'));
    simulator = await startProviderSimulator({ port: 0, transactions: 200, latencyMs: 1500, seed: 3 });
    const target = new URL(simulator.url);
    // Counts job submissions at the provider boundary, then forwards everything to the simulator.
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const match = /^\/([a-z-]+)\/jobs\/?$/.exec(req.url ?? '');
        if (req.method === 'POST' && match) {
          const taxId = (JSON.parse(body.toString() || '{}') as { subject?: { taxId?: string } }).subject
            ?.taxId;
          const key = `${match[1]}/${taxId}`;
          submits.set(key, (submits.get(key) ?? 0) + 1);
        }
        const forward = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            path: req.url,
            method: req.method,
            headers: req.headers,
          },
          (upstream) => {
            res.writeHead(upstream.statusCode ?? 502, upstream.headers);
            upstream.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        forward.end(body);
      });
    });
    await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      ports.push(port);
      instances.push(
        await startNodeProcess(
          MAIN,
          compiledServerEnv(
            { port, dataDir, databaseUrl: control.url, operatorToken, providersUrl: proxyUrl },
            { POLL_BACKOFF_BASE_MS: '100', WORK_LEASE_MS: '1500' },
          ),
          'Conflux listening',
        ),
      );
    }
    const created = await api(ports[0], 'POST', '/v1/tenants', {
      id: tenantId,
      name: 'Two Instances',
      admin: { username: 'root', password: 'root-password-1' },
    });
    expect(created.status).toBe(201);
    token = (
      await api(ports[1], 'POST', '/v1/auth/login', {
        tenantId,
        username: 'root',
        password: 'root-password-1',
      })
    ).body.accessToken as string;
  }, 120_000);

  afterAll(async () => {
    for (const instance of instances) await instance.kill();
    await new Promise((done) => proxy?.close(done));
    await simulator?.close();
    await control?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('ends every report exactly once with one job per provider, after one instance is killed', async () => {
    const ids: string[] = [];
    for (let i = 0; i < REPORTS; i++) {
      const created = await api(ports[i % 2], 'POST', '/v1/reports', { subject: { taxId: `TWO-${i}` } });
      expect(created.status).toBe(202);
      ids.push(created.body.id as string);
    }
    await waitUntil('jobs are being submitted', async () => submits.size >= 3);
    await instances[0].kill(); // mid-run: polls and results still to come
    // A submit the killed instance sent but had not yet recorded is sent again by the survivor, with the
    // same Idempotency-Key: at most those requests may be seen twice, and the provider makes one job.
    const inFlightAtKill = new Set(submits.keys());

    await waitUntil('every report is final', async () => {
      const states = await Promise.all(ids.map((id) => api(ports[1], 'GET', `/v1/reports/${id}`)));
      return states.every((s) => ['ready', 'failed', 'cancelled'].includes(s.body.status));
    });
    // A final report keeps one row: its retention step, due when its objects are to be deleted.
    await waitUntil('no work row but retention is left', async () => {
      const rows = await query(control.url, "SELECT 1 FROM scheduled_work WHERE step <> 'retention'");
      return rows.length === 0;
    });
    const submitted = [...submits.values()].reduce((sum, n) => sum + n, 0);
    await new Promise((r) => setTimeout(r, 2000)); // an observation window: no zombie row may submit again
    expect([...submits.values()].reduce((sum, n) => sum + n, 0)).toBe(submitted);
    console.log('two instances: submits per provider/subject', Object.fromEntries(submits));
    const events = await query<{ stream_name: string; type: string; data: { provider?: string } }>(
      control.url,
      `SELECT stream_name, type, data FROM events WHERE category = 'report'`,
    );

    // The tenant was created on the killed instance, after both started: the survivor learns of it (its
    // rescan of the directory), takes over its projection, and lists every report as ready.
    await waitUntil('the survivor lists every report as ready', async () => {
      const list = await api(ports[1], 'GET', `/v1/reports?limit=100`);
      const rows = list.body.data as { id: string; status: string }[];
      return ids.every((id) => rows.some((r) => r.id === id && r.status === 'ready'));
    });

    for (const [i, id] of ids.entries()) {
      expect((await api(ports[1], 'GET', `/v1/reports/${id}`)).body.status).toBe('ready');
      const stream = events.filter((e) => e.stream_name.endsWith(`.${id}`));
      expect(stream.filter((e) => e.type === 'ReportReady')).toHaveLength(1);
      for (const provider of PROVIDERS) {
        expect(
          stream.filter((e) => e.type === 'ProviderJobSubmitted' && e.data.provider === provider),
        ).toHaveLength(1);
        const key = `${provider}/TWO-${i}`;
        expect(submits.get(key)).toBeLessThanOrEqual(inFlightAtKill.has(key) ? 2 : 1);
        expect(submits.get(key)).toBeGreaterThanOrEqual(1);
        expect(simulator.jobsCreated(provider, `TWO-${i}`)).toBe(1);
      }
    }
  }, 240_000);
});
