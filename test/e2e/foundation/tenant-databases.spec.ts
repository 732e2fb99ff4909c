import { randomBytes } from 'node:crypto';
import { type Server, type Socket, createServer, connect } from 'node:net';
import { clusterUrl, createTestDatabase, withDatabase } from '../../support/database.js';
import { type TestApp, type TestResponse, query, startTestApp } from '../../support/test-app.js';

const PROBLEM = /^application\/problem\+json/;
const newId = () => `d${randomBytes(5).toString('hex')}`;

/** A TCP relay to the test cluster that can be cut and restored: a tenant database "going away". */
const relayToCluster = async () => {
  const target = new URL(clusterUrl());
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await open();
  return {
    url: (database: string) => `postgres://${target.username || 'postgres'}@127.0.0.1:${port}/${database}`,
    /** Refuses new connections and drops the open ones. */
    cut: async () => {
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    restore: open,
  };
};

const expectProblem = (response: TestResponse, status: number) => {
  expect({ status: response.status, contentType: response.contentType }).toEqual({
    status,
    contentType: expect.stringMatching(PROBLEM),
  });
};

/** Awaits a condition (no fixed sleep), failing with `what` after `timeoutMs`. */
const waitUntil = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('tenant databases: one per tenant, and one outage stays one tenant’s (e2e)', () => {
  let t: TestApp;
  let relay: Awaited<ReturnType<typeof relayToCluster>>;
  const givenDatabases: Awaited<ReturnType<typeof createTestDatabase>>[] = [];
  const managed = { id: newId(), admin: { username: 'mona', password: 'mona-password-1', taxId: 'M-1' } };

  const create = (id: string, databaseUrl?: string, username = 'admin') =>
    t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: {
        id,
        name: `Tenant ${id}`,
        admin: { username, password: `${username}-password-1`, taxId: `${id}-TAX` },
        ...(databaseUrl ? { databaseUrl } : {}),
      },
    });
  const login = (tenantId: string, username = 'admin') =>
    t.request('POST', '/v1/auth/login', {
      body: { tenantId, username, password: `${username}-password-1` },
    });
  const given = async () => {
    const db = await createTestDatabase('conflux_given');
    givenDatabases.push(db);
    return db;
  };
  const logLines = () =>
    t.logs.map((line) => JSON.parse(line) as Record<string, unknown> & { msg: string; level: string });

  beforeAll(async () => {
    t = await startTestApp({ SIM_TRANSACTIONS: '50', SIM_LATENCY_MS: '300' });
    relay = await relayToCluster();
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: managed.id, name: 'Managed', admin: managed.admin },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
    await relay?.cut();
    for (const db of givenDatabases) await db.drop();
  });

  it('refuses a database already used by another tenant, however its URL is spelled (409)', async () => {
    const db = await given();
    const owner = newId();
    expect((await create(owner, db.url, 'owner')).status).toBe(201);

    const direct = new URL(db.url);
    const spellings = [
      db.url,
      db.url.replace('127.0.0.1', 'localhost'),
      db.url.replace('127.0.0.1', 'LOCALHOST'),
      db.url.replace(':5432/', '/'),
      `${db.url}?application_name=someone-else&sslmode=disable`,
      `postgres://intruder:any-password@127.0.0.1:${direct.port || 5432}/${db.name}`,
      // Another port to the same server: the keys differ, the tenant marker in the database does not.
      relay.url(db.name),
    ];
    for (const spelling of spellings) {
      const intruder = newId();
      const refused = await create(intruder, spelling, 'intruder');
      expectProblem(refused, 409);
      expect(refused.body.type).toMatch(/tenant-database-in-use$/);
      expectProblem(await login(intruder, 'intruder'), 401);
      expect(await query(t.controlUrl, 'SELECT 1 FROM tenants WHERE id = $1', [intruder])).toHaveLength(0);
    }
    // A database Conflux created for one tenant is not given to another either.
    const intruder = newId();
    expectProblem(
      await create(intruder, new URL(`/conflux_tenant_${managed.id}`, clusterUrl()).toString(), 'intruder'),
      409,
    );

    // The owner's database holds the owner's users only, and the owner still works.
    expect(await query(db.url, 'SELECT username FROM users')).toEqual([{ username: 'owner' }]);
    expect(await query(db.url, 'SELECT tenant_id FROM conflux_tenant')).toEqual([{ tenant_id: owner }]);
    expect((await login(owner, 'owner')).status).toBe(200);
  });

  it('refuses the control database and the cluster’s system databases, however spelled, before migrating anything (422)', async () => {
    const control = new URL(t.controlUrl);
    const spellings = [
      t.controlUrl,
      t.controlUrl.replace('127.0.0.1', 'localhost'),
      `postgres://someone:else@127.0.0.1:${control.port || 5432}/unrelated?dbname=${control.pathname.slice(1)}`,
      withDatabase(clusterUrl(), 'template1'),
      withDatabase(clusterUrl(), 'template0'),
      withDatabase(clusterUrl(), 'postgres'),
      withDatabase(clusterUrl(), '%74emplate1'),
      relay.url('template1'),
      // Another port to the same server: the URL cannot tell, the database itself can.
      relay.url(control.pathname.slice(1)),
    ];
    for (const spelling of spellings) {
      const id = newId();
      const refused = await create(id, spelling);
      expectProblem(refused, 422);
      expect({ spelling, type: refused.body.type }).toEqual({
        spelling,
        type: expect.stringMatching(/tenant-database-reserved$/),
      });
      expect(refused.body.detail).toMatch(/databaseUrl/);
      expect(await query(t.controlUrl, 'SELECT 1 FROM tenants WHERE id = $1', [id])).toHaveLength(0);
    }
    // Nothing was migrated into them: no tenant tables beside `tenants`, none in template1 or postgres.
    for (const url of [
      t.controlUrl,
      withDatabase(clusterUrl(), 'template1'),
      withDatabase(clusterUrl(), 'postgres'),
    ])
      expect(await query(url, "SELECT to_regclass('conflux_tenant') AS marker")).toEqual([{ marker: null }]);
    // Managed tenants are still created afterwards.
    expect((await create(newId())).status).toBe(201);
  });

  it('answers 503, never 500, while the tenant database refuses new connections (ALLOW_CONNECTIONS false)', async () => {
    // Issue 6 re-test: a server that is up but refuses the login (55000 here; a role that may no longer
    // log in, 28000; CONNECT revoked, 42501) answered 500 once the pool had to open a new connection.
    const db = await given();
    const id = newId();
    expect((await create(id, db.url)).status).toBe(201);
    const token = (await login(id)).body.accessToken as string;
    expect((await t.request('GET', '/v1/reports', { token })).status).toBe(200);

    await query(clusterUrl(), `ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
    try {
      await query(clusterUrl(), 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        db.name,
      ]);
      // Past the first refusal's Retry-After the tenant's pool connects afresh, and meets the refusal itself.
      const statuses: number[] = [];
      let refusedAt: number | undefined;
      let retryAfterMs = 0;
      await waitUntil(
        'a request after the first Retry-After window',
        async () => {
          const list = await t.request('GET', '/v1/reports', { token });
          statuses.push(list.status);
          if (list.status !== 200 && list.status !== 503)
            throw new Error(`GET /v1/reports answered ${list.status}: ${JSON.stringify(list.body)}`);
          if (list.status === 503 && refusedAt === undefined) {
            refusedAt = Date.now();
            retryAfterMs = Number(list.headers.get('retry-after')) * 1000;
            expect(list.contentType).toMatch(PROBLEM);
            expect(retryAfterMs).toBeGreaterThan(0);
          }
          return refusedAt !== undefined && Date.now() > refusedAt + retryAfterMs + 500;
        },
        60_000,
      );
      expect(new Set(statuses.slice(statuses.indexOf(503)))).toEqual(new Set([503]));
      const ready = await t.request('GET', '/health/ready');
      expect(ready.body.details.tenantDatabases.unreachable).toEqual([
        { tenantId: id, since: expect.any(String) },
      ]);
    } finally {
      await query(clusterUrl(), `ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);
    }
    await waitUntil('the tenant answers again', async () => (await login(id)).status === 200);
  }, 120_000);

  it('answers 503 with Retry-After to a tenant whose database is unreachable, names it in readiness, and keeps the others working', async () => {
    const db = await given();
    const cut = newId();
    expect((await create(cut, relay.url(db.name))).status).toBe(201);
    const token = (await login(cut)).body.accessToken as string;
    const before = await t.request('POST', '/v1/reports', { token, body: {} });
    expect(before.status).toBe(202);
    const logsBefore = t.logs.length;

    // Its database goes away while its report is still being processed.
    await relay.cut();
    try {
      for (let i = 0; i < 3; i++) {
        const refused = await login(cut);
        expectProblem(refused, 503);
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(refused.body.type).toMatch(/tenant-database-unavailable$/);
      }
      // The list reads its database (the read model): 503 too. One report is read from the log: it still works.
      const list = await t.request('GET', '/v1/reports', { token });
      expectProblem(list, 503);
      expect(list.headers.get('retry-after')).toBeTruthy();
      expect((await t.request('GET', `/v1/reports/${before.body.id}`, { token })).status).toBe(200);

      // Other tenants are unaffected, and readiness stays 200 while naming the unreachable one.
      const other = await t.request('POST', '/v1/auth/login', {
        body: { tenantId: managed.id, username: managed.admin.username, password: managed.admin.password },
      });
      expect(other.status).toBe(200);
      const ready = await t.request('GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.details.tenantDatabases.unreachable).toEqual([
        { tenantId: cut, since: expect.any(String) },
      ]);

      // Its projection keeps failing (the report moves on in the log), backing off and logging once.
      const ofProjection = () =>
        logLines()
          .slice(logsBefore)
          .filter((l) => typeof l.subscription === 'string' && l.subscription.endsWith(`:${cut}`));
      await waitUntil('the projection failed three times', () => ofProjection().length >= 3);
      const lines = ofProjection();
      const loud = lines.filter((l) => ['warn', 'error', 'fatal'].includes(l.level));
      expect(loud).toEqual([
        expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/failing/) }),
      ]);
      expect(JSON.stringify(lines)).not.toContain('    at ');
    } finally {
      await relay.restore();
    }

    // Back: the tenant answers again (after the Retry-After window), its report reaches ready, and
    // both the outage and the recovery were logged once.
    await waitUntil('the tenant logs in again', async () => (await login(cut)).status === 200);
    await waitUntil('its report is projected as ready', async () => {
      const list = await t.request('GET', '/v1/reports', { token });
      return (
        list.status === 200 &&
        list.body.data.some(
          (r: { id: string; status: string }) => r.id === before.body.id && r.status === 'ready',
        )
      );
    });
    const after = logLines().slice(logsBefore);
    expect(after.filter((l) => l.msg === 'tenant database unreachable' && l.tenantId === cut)).toHaveLength(
      1,
    );
    expect(
      after.filter((l) => l.msg === 'tenant database reachable again' && l.tenantId === cut),
    ).toHaveLength(1);
    expect(
      after.filter((l) => l.msg === 'subscription recovered' && String(l.subscription).endsWith(`:${cut}`)),
    ).toHaveLength(1);
    // Nothing answered 500: every failed request was the outage (503).
    const failed = after.filter((l) => l.msg === 'request failed');
    expect(failed.map((l) => (l.err as { code: string }).code)).toEqual(
      failed.map(() => 'tenant_database_unavailable'),
    );
    const ready = await t.request('GET', '/health/ready');
    expect(ready.body.details.tenantDatabases.unreachable).toEqual([]);
  });
});
