import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type EmbeddedCluster,
  freePort,
  startEmbeddedPostgres,
} from '../../../src/infrastructure/postgres/embedded-postgres.js';
import {
  type RunningProviderSimulator,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { clusterUrl, createTestDatabase, withDatabase } from '../../support/database.js';
import { compiledServerEnv, type NodeProcess, startNodeProcess } from '../../support/node-process.js';
import { pgClientTools, type PgClientTools } from '../../support/pg-tools.js';
import { query } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * The documented restore procedure (docs/operations.md, "Backup and restore") on the compiled server and
 * CLI: reports made on the test cluster, the control and tenant databases dumped with pg_dump and loaded
 * with psql into a second cluster (embedded PostgreSQL, started fresh); the server refuses to start there,
 * `restore rebase` re-bases, and then the old reports list as before and a new one completes.
 */
const MAIN = 'dist/src/main.js';
const CLI = 'dist/src/interfaces/cli/conflux.js';

const tools = await pgClientTools();
if (typeof tools === 'string') console.warn(`backup-restore e2e skipped: ${tools}`);
const describeWithTools = typeof tools === 'string' ? describe.skip : describe;

describeWithTools('backup and restore into another cluster (e2e)', () => {
  const { dump, restore } = tools as PgClientTools;
  const tenantId = `r${randomBytes(5).toString('hex')}`;
  const tenantDatabase = `conflux_tenant_${tenantId}`;
  const operatorToken = randomBytes(24).toString('base64url');
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let target: EmbeddedCluster;
  let simulator: RunningProviderSimulator;
  let port: number;
  let conflux: NodeProcess | undefined;

  const api = async (method: string, path: string, bearer: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  };
  const login = async () =>
    (
      await api('POST', '/v1/auth/login', '', {
        tenantId,
        username: 'root',
        password: 'root-password-1',
      })
    ).body.accessToken as string;
  const reports = async (token: string) =>
    ((await api('GET', '/v1/reports?limit=100', token)).body.data as { id: string; status: string }[]).map(
      (r) => ({ id: r.id, status: r.status }),
    );
  const envOn = (databaseUrl: string) =>
    compiledServerEnv(
      { port, dataDir: join(dir, 'data'), databaseUrl, operatorToken, providersUrl: simulator.url },
      { POLL_BACKOFF_BASE_MS: '50' },
    );

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    dir = await mkdtemp(join(tmpdir(), 'conflux-restore-e2e-'));
    if (process.getuid?.() === 0) await chmod(dir, 0o755);
    [control, target, simulator, port] = await Promise.all([
      createTestDatabase('conflux_restore'),
      startEmbeddedPostgres(join(dir, 'cluster'), { persistent: false, maxConnections: 60 }),
      startProviderSimulator({ port: 0, transactions: 5, latencyMs: 0, seed: 24 }),
      freePort(),
    ]);
  }, 240_000);

  afterAll(async () => {
    await conflux?.kill();
    await simulator?.close();
    await target?.stop();
    await query(clusterUrl(), `DROP DATABASE IF EXISTS "${tenantDatabase}" WITH (FORCE)`).catch(
      () => undefined,
    );
    await control?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pg_dump, psql into a new cluster, refusal, restore rebase, then old reports and new work', async () => {
    // On the test cluster: a tenant and three finished reports.
    conflux = await startNodeProcess(MAIN, envOn(control.url), 'Conflux listening');
    const created = await api('POST', '/v1/tenants', operatorToken, {
      id: tenantId,
      name: 'Restore Bank',
      admin: { username: 'root', password: 'root-password-1', taxId: 'ROOT-1' },
    });
    expect(created.status).toBe(201);
    let token = await login();
    for (let i = 0; i < 3; i++)
      expect((await api('POST', '/v1/reports', token, { subject: { taxId: `SUBJECT-${i}` } })).status).toBe(
        202,
      );
    // The list is a read model: wait for all three, not only for "every listed one" (true of an empty list).
    await waitUntil('every report is ready', async () => {
      const listed = await reports(token);
      return listed.length === 3 && listed.every((r) => r.status === 'ready');
    });
    const before = await reports(token);
    expect(before).toHaveLength(3);
    await conflux.kill('SIGTERM');
    conflux = undefined;

    // Backup and restore, as documented.
    const restoredControl = withDatabase(target.url, 'conflux');
    for (const [from, name] of [
      [control.url, 'conflux'],
      [withDatabase(clusterUrl(), tenantDatabase), tenantDatabase],
    ]) {
      await dump(from, join(dir, `${name}.sql`));
      await query(target.url, `CREATE DATABASE "${name}"`);
      await restore(join(dir, `${name}.sql`), withDatabase(target.url, name));
    }

    // Before the re-base the server does not start, and says why and what to run.
    await expect(startNodeProcess(MAIN, envOn(restoredControl), 'Conflux listening')).rejects.toThrow(
      /exited with 1:[\s\S]*Conflux could not start: The event log was written by PostgreSQL cluster \d+, but this is cluster \d+[\s\S]*npm run conflux -- restore rebase/,
    );

    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, [CLI, ...args], { env: envOn(restoredControl) });
    const rebased = await cli('restore', 'rebase');
    expect(rebased.stdout).toMatch(/event log re-based from cluster \d+ onto \d+: \d+ events/);
    expect(rebased.stdout).toContain(`tenant ${tenantId}: projection checkpoints follow the log`);
    expect((await cli('restore', 'rebase')).stdout).toContain('nothing to re-base');

    // After: the same reports, and a new one goes all the way (process manager, projection, new events).
    conflux = await startNodeProcess(MAIN, envOn(restoredControl), 'Conflux listening');
    token = await login();
    expect(await reports(token)).toEqual(before);
    const requested = await api('POST', '/v1/reports', token, { subject: { taxId: 'SUBJECT-NEW' } });
    expect(requested.status).toBe(202);
    await waitUntil('the new report is ready', async () => {
      const now = await reports(token);
      return now.length === 4 && now.every((r) => r.status === 'ready');
    });
  }, 300_000);
});
