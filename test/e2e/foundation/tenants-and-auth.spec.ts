import { randomBytes } from 'node:crypto';
import { clusterUrl, createTestDatabase } from '../../support/database.js';
import { type TestApp, type TestResponse, query, startTestApp } from '../../support/test-app.js';

const PROBLEM = /^application\/problem\+json/;
/** Short, so the revocation test can wait it out. */
const STATUS_CACHE_MS = 300;
const newId = () => `t${randomBytes(5).toString('hex')}`;

const expectProblem = (response: TestResponse, status: number) => {
  expect({ status: response.status, contentType: response.contentType }).toEqual({
    status,
    contentType: expect.stringMatching(PROBLEM),
  });
  expect(response.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
};

describe('tenants, users and auth (e2e)', () => {
  let t: TestApp;
  const acme = { id: newId(), admin: { username: 'alice', password: 'alice-password-1' } };
  const globex = { id: newId(), admin: { username: 'gina', password: 'gina-password-22' } };
  const passwords = [acme.admin.password, globex.admin.password, 'bob-password-333', 'sam-password-4444'];
  const tokens: string[] = [];

  const login = async (tenantId: string, username: string, password: string) => {
    const response = await t.request('POST', '/v1/auth/login', { body: { tenantId, username, password } });
    if (response.status === 200) tokens.push(response.body.accessToken);
    return response;
  };
  const tokenOf = async (tenantId: string, username: string, password: string): Promise<string> => {
    const response = await login(tenantId, username, password);
    expect(response.status).toBe(200);
    return response.body.accessToken as string;
  };
  const databaseOf = (tenantId: string) => new URL(`/conflux_tenant_${tenantId}`, clusterUrl()).toString();

  beforeAll(async () => {
    t = await startTestApp({ TENANT_STATUS_CACHE_MS: String(STATUS_CACHE_MS) });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates two tenants, each in a new database of its own', async () => {
    for (const [tenant, name, selfSignup] of [
      [acme, 'Acme Bank', false],
      [globex, 'Globex Lending', true],
    ] as const) {
      const response = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id: tenant.id, name, admin: tenant.admin, selfSignup },
      });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        id: tenant.id,
        name,
        status: 'active',
        selfSignup,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
    }
    const databases = await query<{ datname: string }>(
      clusterUrl(),
      'SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY datname',
      [[`conflux_tenant_${acme.id}`, `conflux_tenant_${globex.id}`]],
    );
    expect(databases.map((d) => d.datname).sort()).toEqual(
      [`conflux_tenant_${acme.id}`, `conflux_tenant_${globex.id}`].sort(),
    );
  });

  it('lists and shows tenants to the operator', async () => {
    const list = await t.request('GET', '/v1/tenants', { token: t.operatorToken });
    expect(list.status).toBe(200);
    expect(list.body.data.map((x: { id: string }) => x.id).sort()).toEqual([acme.id, globex.id].sort());

    const one = await t.request('GET', `/v1/tenants/${acme.id}`, { token: t.operatorToken });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: acme.id, name: 'Acme Bank', status: 'active', selfSignup: false });

    expectProblem(await t.request('GET', '/v1/tenants/nosuchtenant', { token: t.operatorToken }), 404);
  });

  it('refuses a duplicate tenant id with 409', async () => {
    const again = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: acme.id, name: 'Acme again', admin: { username: 'x', password: 'whatever-123' } },
    });
    expectProblem(again, 409);
  });

  it("keeps a user's row in its tenant's database only — the tenant comes from the token, not the body", async () => {
    const admin = await tokenOf(acme.id, 'alice', acme.admin.password);
    const created = await t.request('POST', '/v1/users', {
      token: admin,
      body: { username: 'bob', password: 'bob-password-333', taxId: 'bob-123', tenantId: globex.id },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      tenantId: acme.id,
      username: 'bob',
      taxId: 'bob-123',
      taxIdVerified: true,
      role: 'member',
    });

    const inAcme = await query(databaseOf(acme.id), 'SELECT username FROM users WHERE username = $1', [
      'bob',
    ]);
    const inGlobex = await query(databaseOf(globex.id), 'SELECT username FROM users WHERE username = $1', [
      'bob',
    ]);
    expect(inAcme).toHaveLength(1);
    expect(inGlobex).toHaveLength(0);
  });

  it('signs a user in with a JWT naming the user, the tenant and the role', async () => {
    const response = await login(acme.id, 'bob', 'bob-password-333');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 3600 });
    const [header, claims] = (response.body.accessToken as string)
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    expect(header.alg).toBe('HS256');
    expect(claims).toMatchObject({ sub: expect.any(String), tid: acme.id, role: 'member' });
  });

  it('answers the same 401 for a wrong password, an unknown user, an unknown tenant and another tenant', async () => {
    const attempts = [
      await login(acme.id, 'bob', 'not-bobs-password'),
      await login(acme.id, 'nobody', 'bob-password-333'),
      await login('nosuchtenant', 'bob', 'bob-password-333'),
      await login(globex.id, 'bob', 'bob-password-333'),
      await login(globex.id, 'alice', acme.admin.password),
    ];
    for (const attempt of attempts) expectProblem(attempt, 401);
    expect(new Set(attempts.map((a) => a.text.replace(/"instance":"[^"]*"/, ''))).size).toBe(1);
  });

  it('refuses a duplicate username in a tenant with 409, but allows it in another tenant', async () => {
    const acmeAdmin = await tokenOf(acme.id, 'alice', acme.admin.password);
    const dup = await t.request('POST', '/v1/users', {
      token: acmeAdmin,
      body: { username: 'bob', password: 'another-password', taxId: 'x-1' },
    });
    expectProblem(dup, 409);

    const globexAdmin = await tokenOf(globex.id, 'gina', globex.admin.password);
    const elsewhere = await t.request('POST', '/v1/users', {
      token: globexAdmin,
      body: { username: 'bob', password: 'bob-password-333', taxId: 'g-1', role: 'admin' },
    });
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body).toMatchObject({ tenantId: globex.id, role: 'admin' });
  });

  it('lets only tenant admins create users (member → 403, no or bad token → 401)', async () => {
    const member = await tokenOf(acme.id, 'bob', 'bob-password-333');
    const body = { username: 'carol', password: 'carol-password', taxId: 'c-1' };
    expectProblem(await t.request('POST', '/v1/users', { token: member, body }), 403);
    expectProblem(await t.request('POST', '/v1/users', { body }), 401);
    expectProblem(await t.request('POST', '/v1/users', { token: 'not-a-jwt', body }), 401);
    expectProblem(await t.request('POST', '/v1/users', { token: `${member.slice(0, -2)}xx`, body }), 401);
    expectProblem(await t.request('POST', '/v1/users', { token: t.operatorToken, body }), 401);
  });

  it('keeps operator endpoints for the operator token (none → 401, a user token → 403)', async () => {
    const admin = await tokenOf(acme.id, 'alice', acme.admin.password);
    expectProblem(await t.request('GET', '/v1/tenants'), 401);
    expectProblem(await t.request('GET', '/v1/tenants', { token: 'wrong-operator-token' }), 401);
    expectProblem(await t.request('GET', '/v1/tenants', { token: admin }), 403);
  });

  it('allows sign-up only where the tenant enables it, always as a member', async () => {
    const signup = (tenantId: string) =>
      t.request('POST', '/v1/auth/signup', {
        body: { tenantId, username: 'sam', password: 'sam-password-4444', taxId: 'sam-1', role: 'admin' },
      });
    const open = await signup(globex.id);
    expect(open.status).toBe(201);
    expect(open.body).toEqual({
      id: expect.any(String),
      tenantId: globex.id,
      username: 'sam',
      taxId: 'sam-1',
      taxIdVerified: false,
      role: 'member',
    });
    await tokenOf(globex.id, 'sam', 'sam-password-4444');

    expectProblem(await signup(acme.id), 403);
    expectProblem(await signup('nosuchtenant'), 403);
  });

  it('rejects the tokens of a tenant that is no longer active, within TENANT_STATUS_CACHE_MS', async () => {
    const admin = await tokenOf(globex.id, 'gina', globex.admin.password);
    const body = { username: 'late', password: 'late-password', taxId: 'l-1' };
    await query(t.controlUrl, "UPDATE tenants SET status = 'disabled' WHERE id = $1", [globex.id]);
    try {
      await new Promise((resolve) => setTimeout(resolve, STATUS_CACHE_MS + 100));
      expectProblem(await t.request('POST', '/v1/users', { token: admin, body }), 401);
      expectProblem(await login(globex.id, 'gina', globex.admin.password), 401);
    } finally {
      await query(t.controlUrl, "UPDATE tenants SET status = 'active' WHERE id = $1", [globex.id]);
    }
  });

  it('creates a tenant in a database the operator gives, and releases the id when that database is unusable', async () => {
    const given = await createTestDatabase('conflux_given');
    try {
      const bad = { ...given, url: given.url.replace(/:(\d+)\//, ':1/') };
      const id = newId();
      const body = { id, name: 'Initech', admin: { username: 'ian', password: 'ian-password-55' } };
      const unusable = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { ...body, databaseUrl: bad.url },
      });
      expectProblem(unusable, 422);

      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { ...body, databaseUrl: given.url },
      });
      expect(created.status).toBe(201);
      const users = await query<{ username: string; role: string }>(
        given.url,
        'SELECT username, role FROM users',
      );
      expect(users).toEqual([{ username: 'ian', role: 'admin' }]);
      await tokenOf(id, 'ian', 'ian-password-55');
      // Conflux did not create this database, so it never counts it as its own.
      const [row] = await query<{ managed_database: boolean }>(
        t.controlUrl,
        'SELECT managed_database FROM tenants WHERE id = $1',
        [id],
      );
      expect(row.managed_database).toBe(false);
    } finally {
      await given.drop();
    }
  });

  it('leaves nothing behind when provisioning fails, so a retry works', async () => {
    const id = newId();
    // Someone else's database already has the name this tenant would get.
    await query(clusterUrl(), `CREATE DATABASE "conflux_tenant_${id}"`);
    const body = { id, name: 'Umbrella', admin: { username: 'uma', password: 'uma-password-66' } };
    try {
      expectProblem(await t.request('POST', '/v1/tenants', { token: t.operatorToken, body }), 409);
      expect(await query(t.controlUrl, 'SELECT 1 FROM tenants WHERE id = $1', [id])).toHaveLength(0);
      // Not ours: it is still there.
      expect(
        await query(clusterUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [`conflux_tenant_${id}`]),
      ).toHaveLength(1);
    } finally {
      await query(clusterUrl(), `DROP DATABASE IF EXISTS "conflux_tenant_${id}" WITH (FORCE)`);
    }
    const retry = await t.request('POST', '/v1/tenants', { token: t.operatorToken, body });
    expect(retry.status).toBe(201);
  });

  it('never shows a password, a hash or a connection string — not in responses, the control database or the logs', async () => {
    const forbidden = [...passwords, '$scrypt$', 'postgres://', 'postgresql://'];
    const responses = t.responses.join('\n');
    for (const secret of forbidden) expect(responses).not.toContain(secret);

    const rows = await query<{ row: string }>(t.controlUrl, 'SELECT t::text AS row FROM tenants t');
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const { row } of rows)
      for (const secret of [...forbidden, 'conflux_tenant_', 'conflux_given', '127.0.0.1', 'localhost'])
        expect(row).not.toContain(secret);

    // The logs are not empty: provisioning and the failed attempts above were logged.
    expect(t.logs.some((line) => line.includes('tenant provisioned'))).toBe(true);
    expect(t.logs.some((line) => line.includes('given tenant database is unusable'))).toBe(true);
    const logs = t.logs.join('\n');
    for (const secret of [...forbidden, t.operatorToken, ...tokens]) expect(logs).not.toContain(secret);
  });
});
