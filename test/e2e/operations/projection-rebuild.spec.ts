import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { PROVIDER_NAMES } from '../../../src/domain/report/provider-data.js';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import {
  type RunningProviderSimulator,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { clusterUrl, createTestDatabase, withDatabase } from '../../support/database.js';
import { compiledServerEnv, type NodeProcess, startNodeProcess } from '../../support/node-process.js';
import { OpenApiContract } from '../../support/openapi-contract.js';
import { query } from '../../support/test-app.js';
import { WebhookReceiver } from '../../support/webhook-receiver.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * Zero-downtime rebuilds of a tenant's reports read model (issue 11), on the compiled server: reads keep
 * answering the same data while the new model is built, the rebuilt model equals the old one, new reports
 * work after the switch, no webhook fires again (counted at a real receiver), a field that only history
 * holds reaches rows projected before it through a rebuild, and a rebuild killed with SIGKILL resumes after
 * a restart.
 */
const MAIN = 'dist/src/main.js';
const READY_REPORTS = 60;
const SEEDED_REPORTS = Number(process.env.SEEDED ?? 20_000);

describe('projection rebuilds (e2e)', () => {
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let simulator: RunningProviderSimulator;
  let port: number;
  let env: NodeJS.ProcessEnv;
  let conflux: NodeProcess | undefined;
  let contract: OpenApiContract;
  let receiver: WebhookReceiver;
  const tenantId = `p${randomBytes(5).toString('hex')}`;
  const operatorToken = randomBytes(24).toString('base64url');
  let token = '';
  const tenantDb = () => withDatabase(clusterUrl(), `conflux_tenant_${tenantId}`);

  /** A request, its answer checked against the server's OpenAPI document. */
  const api = async (method: string, path: string, body?: unknown, bearer = token || operatorToken) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const answer = {
      status: response.status,
      contentType: response.headers.get('content-type'),
      headers: response.headers,
      text,
      body: text ? JSON.parse(text) : undefined,
    };
    const violations = contract.check(method, path, answer);
    if (violations.length > 0)
      throw new Error(`Response breaks the OpenAPI document:\n  ${violations.join('\n  ')}`);
    return answer as { status: number; body: any };
  };
  const operator = (method: string, path: string, body?: unknown) => api(method, path, body, operatorToken);

  /**
   * Every report of the tenant through the paged list, as a reader sees them — without the files' signed
   * links, which are minted per request (their signature and expiry move with the clock).
   */
  const allReports = async () => {
    const reports: any[] = [];
    let after = '';
    for (;;) {
      const page = await api('GET', `/v1/reports?limit=100${after ? `&startingAfter=${after}` : ''}`);
      expect(page.status).toBe(200);
      reports.push(
        ...page.body.data.map((r: any) => ({
          ...r,
          files: r.files.map(({ url: _u, expiresAt: _e, ...file }: any) => file),
        })),
      );
      if (!page.body.hasMore) return reports;
      after = page.body.data.at(-1).id;
    }
  };

  /** The read model's rows, hashed: equal before and after a rebuild when the rebuild is faithful. */
  const readModelDigest = async () =>
    (
      await query<{ rows: number; digest: string }>(
        tenantDb(),
        `SELECT count(*)::int AS rows, md5(string_agg(id || status || version || state::text || updated_at::text, ','
           ORDER BY id)) AS digest FROM reports`,
      )
    )[0];

  const waitRebuild = async (id: string, timeoutMs = 120_000) => {
    let rebuild: any;
    await waitUntil(
      `rebuild ${id} ends`,
      async () => {
        rebuild = (await operator('GET', `/v1/admin/projections/reports/rebuilds/${id}`)).body;
        return rebuild.status !== 'running';
      },
      timeoutMs,
      100,
    );
    return rebuild;
  };

  const start = async () => {
    conflux = await startNodeProcess(MAIN, env, 'Conflux listening');
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    control = await createTestDatabase('conflux_rebuild');
    dataDir = await mkdtemp(join(tmpdir(), 'conflux-rebuild-'));
    simulator = await startProviderSimulator({ port: 0, transactions: 20, latencyMs: 0, seed: 11 });
    port = await freePort();
    env = compiledServerEnv(
      { port, dataDir, databaseUrl: control.url, operatorToken, providersUrl: simulator.url },
      { POLL_BACKOFF_BASE_MS: '50', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
    );
    receiver = await new WebhookReceiver().start();
    await start();
    contract = await OpenApiContract.load(`http://127.0.0.1:${port}`);
    const created = await operator('POST', '/v1/tenants', {
      id: tenantId,
      name: 'Rebuild Bank',
      admin: { username: 'root', password: 'root-password-1', taxId: 'ROOT-1' },
    });
    expect(created.status).toBe(201);
    token = (await api('POST', '/v1/auth/login', { tenantId, username: 'root', password: 'root-password-1' }))
      .body.accessToken;
    const endpoint = await api('POST', '/v1/webhooks', {
      url: `${receiver.url}/hook`,
      events: ['report.ready'],
    });
    expect(endpoint.status).toBe(201);
  }, 240_000);

  afterAll(async () => {
    await conflux?.kill();
    await receiver?.stop();
    await simulator?.close();
    await query(clusterUrl(), `DROP DATABASE IF EXISTS "conflux_tenant_${tenantId}" WITH (FORCE)`).catch(
      () => undefined,
    );
    await control?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('rebuilds a tenant read model while reads keep answering the same data; new reports work after', async () => {
    for (let i = 0; i < READY_REPORTS; i++)
      expect((await api('POST', '/v1/reports', { subject: { taxId: `SUBJECT-${i}` } })).status).toBe(202);
    await waitUntil(
      'every report is ready',
      async () => (await allReports()).every((r: any) => r.status === 'ready'),
      180_000,
      250,
    );
    const before = await allReports();
    expect(before).toHaveLength(READY_REPORTS);
    const digest = await readModelDigest();
    await waitUntil(
      'a webhook per ready report',
      () => receiver.at('/hook').length === READY_REPORTS,
      60_000,
      100,
    );

    const started = await operator('POST', '/v1/admin/projections/reports/rebuild', { tenantId });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ name: 'reports', tenantId, status: 'running' });
    // Reads during the rebuild (and across its switch) answer 200 with exactly the data of before.
    let reads = 0;
    let rebuild: any;
    do {
      expect(await allReports()).toEqual(before);
      reads++;
      rebuild = (await operator('GET', `/v1/admin/projections/reports/rebuilds/${started.body.id}`)).body;
    } while (rebuild.status === 'running');
    expect(reads).toBeGreaterThan(0);
    expect(rebuild).toMatchObject({ status: 'completed', error: null });
    // Every event of the tenant went into the new model: 60 reports, each from request to ready.
    const events = await query<{ n: number }>(
      control.url,
      `SELECT count(*)::int AS n FROM events WHERE tenant_id = $1 AND category = 'report'`,
      [tenantId],
    );
    expect(rebuild.eventsApplied).toBe(events[0].n);
    expect(await readModelDigest()).toEqual(digest);
    expect(await allReports()).toEqual(before);

    // The rebuild re-read every event, and no webhook fired again (the fan-out has its own checkpoint).
    expect(receiver.at('/hook')).toHaveLength(READY_REPORTS);

    // The live projection writes into the switched-in table.
    const next = await api('POST', '/v1/reports', { subject: { taxId: 'AFTER-1' } });
    await waitUntil(
      'the new report is ready',
      async () => (await api('GET', `/v1/reports/${next.body.id}`)).body.status === 'ready',
      60_000,
      100,
    );
    await waitUntil(
      'its webhook, once',
      () => receiver.at('/hook').length === READY_REPORTS + 1,
      60_000,
      100,
    );
    const listed = await operator('GET', '/v1/admin/projections');
    expect(listed.status).toBe(200);
    expect(listed.body.data).toContainEqual(
      expect.objectContaining({ name: 'reports', tenantId, status: 'live', parked: 0 }),
    );
    expect(listed.body.data).toContainEqual(
      expect.objectContaining({ name: 'scheduled-work', tenantId: null }),
    );
  }, 300_000);

  it('refuses what it cannot rebuild, with a clear problem', async () => {
    const unknown = await operator('POST', '/v1/admin/projections/nope/rebuild', { tenantId });
    expect(unknown.status).toBe(404);
    const global = await operator('POST', '/v1/admin/projections/scheduled-work/rebuild', { tenantId });
    expect(global.status).toBe(409);
    expect(global.body.detail).toContain('scheduled-work');
    expect(
      (await operator('POST', '/v1/admin/projections/reports/rebuild', { tenantId: 'nobody' })).status,
    ).toBe(404);
    const invalid = await operator('POST', '/v1/admin/projections/reports/rebuild', {});
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors).toContainEqual(expect.objectContaining({ field: 'tenantId' }));
    expect((await operator('GET', `/v1/admin/projections/reports/rebuilds/${randomUUID()}`)).status).toBe(
      404,
    );
    // A tenant admin's token is not the operator's.
    expect((await api('GET', '/v1/admin/projections')).status).toBe(403);
  }, 60_000);

  it('schema change by rebuild: provider durations, kept only in history, reach older rows through a rebuild', async () => {
    // Reports of its own, so that the test also runs alone.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await api('POST', '/v1/reports', { subject: { taxId: `DURATION-${i}` } });
      expect(created.status).toBe(202);
      ids.push(created.body.id);
    }
    await waitUntil(
      'the list shows them ready',
      async () => {
        const listed = await allReports();
        return ids.every((id) => listed.find((r: any) => r.id === id)?.status === 'ready');
      },
      120_000,
      100,
    );
    const durations = (reports: any[]) =>
      reports.flatMap((r: any) => PROVIDER_NAMES.map((p) => r.progress.providers[p].durationMs));
    const ready = (reports: any[]) => reports.filter((r: any) => r.status === 'ready');
    // This version's live projection writes the field.
    expect(durations(ready(await allReports())).every((d) => typeof d === 'number')).toBe(true);

    // The rows as the version before the field wrote them: a provider's state without its two times.
    const strip = PROVIDER_NAMES.flatMap((p) =>
      ['submittedAt', 'finishedAt'].map((key) => `#- '{providers,${p},${key}}'`),
    );
    await query(tenantDb(), `UPDATE reports SET state = state ${strip.join(' ')}`);
    const stale = ready(await allReports());
    expect(stale.length).toBeGreaterThanOrEqual(ids.length);
    expect(durations(stale).every((d) => d === undefined)).toBe(true);
    // One report alone is folded from its stream, so it has the field already; the list needs the rebuild.
    const single = await api('GET', `/v1/reports/${ids[0]}`);
    expect(durations([single.body]).every((d) => typeof d === 'number')).toBe(true);

    const started = await operator('POST', '/v1/admin/projections/reports/rebuild', { tenantId });
    expect(started.status).toBe(202);
    expect(await waitRebuild(started.body.id)).toMatchObject({ status: 'completed', error: null });

    // Each duration is the difference of the times its two events carry.
    const events = await query<{ type: string; data: any }>(
      control.url,
      `SELECT type, data FROM events WHERE tenant_id = $1 AND type IN ('ProviderJobSubmitted', 'ProviderResultRecorded')`,
      [tenantId],
    );
    const at = (type: string) =>
      new Map(
        events
          .filter((e) => e.type === type)
          .map((e) => [
            `${e.data.reportId}/${e.data.provider}`,
            Date.parse(e.data.submittedAt ?? e.data.recordedAt),
          ]),
      );
    const submitted = at('ProviderJobSubmitted');
    const recorded = at('ProviderResultRecorded');
    const rebuilt = ready(await allReports());
    expect(rebuilt.map((r: any) => r.id)).toEqual(expect.arrayContaining(ids));
    for (const report of rebuilt)
      for (const p of PROVIDER_NAMES) {
        const key = `${report.id}/${p}`;
        const durationMs = report.progress.providers[p].durationMs;
        expect({ key, durationMs }).toEqual({ key, durationMs: recorded.get(key)! - submitted.get(key)! });
        expect(durationMs).toBeGreaterThanOrEqual(0);
        expect(durationMs).toBeLessThanOrEqual(Date.parse(report.completedAt) - Date.parse(report.createdAt));
      }
  }, 240_000);

  it('resumes a rebuild killed with SIGKILL after a restart, and switches in the same model', async () => {
    // A large history, written straight to the log: copies of a real ReportRequested for new reports, each
    // cancelled in the same append (so the process manager has no work for them: only the model grows).
    const [template] = await query<{ data: any; metadata: any }>(
      control.url,
      `SELECT data, metadata FROM events WHERE tenant_id = $1 AND type = 'ReportRequested' LIMIT 1`,
      [tenantId],
    );
    const rowsBefore = (await readModelDigest()).rows;
    const store = await PostgresEventStore.create(control.url, { maxConnections: 8, notify: true });
    const limit = pLimit(8);
    await Promise.all(
      Array.from({ length: SEEDED_REPORTS }, (_, i) =>
        limit(async () => {
          const reportId = `seeded-${i}`;
          await store.appendToStream(
            `report-${tenantId}.${reportId}`,
            [
              {
                id: randomUUID(),
                type: 'ReportRequested',
                data: { ...template.data, reportId },
                metadata: template.metadata,
              },
              {
                id: randomUUID(),
                type: 'ReportCancelled',
                data: {
                  reportId,
                  cancelledBy: template.data.requestedBy,
                  cancelledAt: new Date().toISOString(),
                },
                metadata: template.metadata,
              },
            ],
            { expectedRevision: 'no_stream' },
          );
        }),
      ),
    );
    await store.close();
    await waitUntil(
      'the live model has every seeded report',
      async () =>
        (
          await query<{ n: number }>(
            tenantDb(),
            `SELECT count(*)::int AS n FROM reports WHERE status = 'cancelled'`,
          )
        )[0].n === SEEDED_REPORTS && (await readModelDigest()).rows === rowsBefore + SEEDED_REPORTS,
      180_000,
      250,
    );
    const digest = await readModelDigest();

    const started = await operator('POST', '/v1/admin/projections/reports/rebuild', { tenantId });
    expect(started.status).toBe(202);
    await waitUntil(
      'the rebuild is part-way',
      async () =>
        (await operator('GET', `/v1/admin/projections/reports/rebuilds/${started.body.id}`)).body
          .eventsApplied >= 1000,
      120_000,
      20,
    );
    await conflux!.kill();
    const killed = await query<{ status: string; events_applied: string }>(
      control.url,
      'SELECT status, events_applied FROM projection_rebuilds WHERE id = $1',
      [started.body.id],
    );
    // Killed part-way (a very slow machine could have finished; then there is nothing to resume).
    expect(killed[0].status).toBe('running');
    await start();
    const rebuild = await waitRebuild(started.body.id, 180_000);
    expect(rebuild).toMatchObject({ status: 'completed', error: null });
    expect(rebuild.eventsApplied).toBeGreaterThan(Number(killed[0].events_applied));
    expect(await readModelDigest()).toEqual(digest);
  }, 480_000);

  it('the operator CLI lists projections and rebuilds a tenant with the same service', async () => {
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['dist/src/interfaces/cli/conflux.js', ...args], { env });
    const digest = await readModelDigest();
    const listed = await cli('projections', 'list');
    expect(listed.stdout).toContain(tenantId);
    expect(listed.stdout).toContain('scheduled-work');
    const rebuilt = await cli('projections', 'rebuild', '--tenant', tenantId);
    expect(rebuilt.stdout).toMatch(
      new RegExp(`completed: \\d+ events into a new reports read model for ${tenantId}`),
    );
    expect(await readModelDigest()).toEqual(digest);
    // A mistake is named, with a non-zero exit.
    await expect(cli('projections', 'rebuild', '--tenant', 'nobody')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('Tenant nobody not found'),
    });
  }, 180_000);
});
