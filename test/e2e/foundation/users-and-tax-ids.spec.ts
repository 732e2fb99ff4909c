import { randomBytes } from 'node:crypto';
import { type TestApp, type TestResponse, startTestApp } from '../../support/test-app.js';

/**
 * Issue 6, item 13 (who may see whose money) and the case-insensitive usernames of item 8.
 * A tax ID typed at sign-up is unverified; one set by a tenant admin (create, PATCH) is verified; a member
 * may request reports only on their own verified tax ID.
 */
const PROBLEM = /^application\/problem\+json/;
const newId = () => `u${randomBytes(5).toString('hex')}`;

const expectProblem = (response: TestResponse, status: number, code?: string) => {
  expect({ status: response.status, contentType: response.contentType }).toEqual({
    status,
    contentType: expect.stringMatching(PROBLEM),
  });
  if (code) expect(response.body).toMatchObject({ status, code });
};

describe('users, verified tax IDs and report access (e2e)', () => {
  let t: TestApp;
  const tenant = newId();
  const other = newId();
  let admin: string;
  let otherAdmin: string;
  let victim: string;
  let victimReportId: string;

  const login = async (tenantId: string, username: string, password: string): Promise<string> => {
    const response = await t.request('POST', '/v1/auth/login', { body: { tenantId, username, password } });
    expect(response.status).toBe(200);
    return response.body.accessToken as string;
  };
  const signup = (username: string, taxId: string, tenantId = tenant) =>
    t.request('POST', '/v1/auth/signup', {
      body: { tenantId, username, password: `${username}-password-1`, taxId },
    });

  beforeAll(async () => {
    t = await startTestApp({ SIM_LATENCY_MS: '200', SIM_TRANSACTIONS: '20' });
    for (const [id, selfSignup] of [
      [tenant, true],
      [other, false],
    ] as const) {
      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id, name: id, selfSignup, admin: { username: 'root', password: 'root-password-1' } },
      });
      expect(created.status).toBe(201);
    }
    admin = await login(tenant, 'root', 'root-password-1');
    otherAdmin = await login(other, 'root', 'root-password-1');
    const created = await t.request('POST', '/v1/users', {
      token: admin,
      body: { username: 'vera', password: 'vera-password-1', taxId: 'VICTIM-1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'vera', taxId: 'VICTIM-1', taxIdVerified: true });
    victim = await login(tenant, 'vera', 'vera-password-1');
    const report = await t.request('POST', '/v1/reports', { token: victim, body: {} });
    expect(report.status).toBe(202);
    victimReportId = report.body.id as string;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it("refuses a stranger who signed up with the victim's tax ID: no report on it, none of the victim's seen", async () => {
    const signed = await signup('mallory', 'VICTIM-1');
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ taxId: 'VICTIM-1', taxIdVerified: false, role: 'member' });
    const mallory = await login(tenant, 'mallory', 'mallory-password-1');

    // Asking for a report: by default (own tax ID) or naming it.
    for (const body of [{}, { subject: { taxId: 'VICTIM-1' } }]) {
      const refused = await t.request('POST', '/v1/reports', { token: mallory, body });
      expectProblem(refused, 403, 'tax_id_unverified');
      expect(refused.body.type).toBe('urn:conflux:problem:tax-id-unverified');
    }
    // Naming any other subject stays forbidden for a member.
    expectProblem(
      await t.request('POST', '/v1/reports', { token: mallory, body: { subject: { taxId: 'SOMEONE-2' } } }),
      403,
      'subject_forbidden',
    );
    // Nothing of the victim's is visible: not in the list, not by id, not its files.
    const list = await t.request('GET', '/v1/reports', { token: mallory });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);
    expectProblem(await t.request('GET', `/v1/reports/${victimReportId}`, { token: mallory }), 404);
    expectProblem(
      await t.request('GET', `/v1/reports/${victimReportId}/files/transactions.csv`, { token: mallory }),
      404,
    );
    // The victim, verified, still can.
    expect((await t.request('GET', `/v1/reports/${victimReportId}`, { token: victim })).status).toBe(200);
  });

  it('lets a member request reports once an admin verifies their tax ID — with the same token, no new login', async () => {
    const signed = await signup('nina', 'NINA-1');
    const nina = await login(tenant, 'nina', 'nina-password-1');
    expectProblem(
      await t.request('POST', '/v1/reports', { token: nina, body: {} }),
      403,
      'tax_id_unverified',
    );

    const patched = await t.request('PATCH', `/v1/users/${signed.body.id}`, {
      token: admin,
      body: { taxId: 'NINA-1' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({
      id: signed.body.id,
      tenantId: tenant,
      username: 'nina',
      taxId: 'NINA-1',
      taxIdVerified: true,
      role: 'member',
    });
    const accepted = await t.request('POST', '/v1/reports', { token: nina, body: {} });
    expect(accepted.status).toBe(202);
    expect(accepted.body.subject).toEqual({ taxId: 'NINA-1' });
  });

  it('changes roles by PATCH, but never removes the last admin', async () => {
    const signed = await signup('otis', 'OTIS-1');
    const promoted = await t.request('PATCH', `/v1/users/${signed.body.id}`, {
      token: admin,
      body: { role: 'admin' },
    });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ role: 'admin', taxIdVerified: false });
    const otisAsAdmin = await login(tenant, 'otis', 'otis-password-1');
    const asAdmin = await t.request('POST', '/v1/reports', {
      token: otisAsAdmin,
      body: { subject: { taxId: 'ANYONE-1' } },
    });
    expect(asAdmin.status).toBe(202);
    const demoted = await t.request('PATCH', `/v1/users/${signed.body.id}`, {
      token: admin,
      body: { role: 'member' },
    });
    expect(demoted.body).toMatchObject({ role: 'member' });
    // The token still says admin until it expires, but report requests check the tenant database.
    expectProblem(
      await t.request('POST', '/v1/reports', {
        token: otisAsAdmin,
        body: { subject: { taxId: 'ANYONE-1' } },
      }),
      403,
      'subject_forbidden',
    );
    // Nor can the demoted user act as an admin (e.g. promote themselves back) with that token.
    expectProblem(
      await t.request('PATCH', `/v1/users/${signed.body.id}`, {
        token: otisAsAdmin,
        body: { role: 'admin' },
      }),
      403,
    );
    expectProblem(await t.request('GET', '/v1/users', { token: otisAsAdmin }), 403);

    const list = await t.request('GET', '/v1/users?limit=100', { token: otherAdmin });
    const root = (list.body.data as { id: string; username: string }[]).find((u) => u.username === 'root');
    expectProblem(
      await t.request('PATCH', `/v1/users/${root?.id}`, { token: otherAdmin, body: { role: 'member' } }),
      409,
      'last_admin',
    );
  });

  it('keeps PATCH and GET /v1/users to admins of the tenant: another tenant’s user is 404, members get 403', async () => {
    const list = await t.request('GET', '/v1/users?limit=100', { token: admin });
    const vera = (list.body.data as { id: string; username: string }[]).find((u) => u.username === 'vera');
    expect(vera).toBeDefined();
    expectProblem(
      await t.request('PATCH', `/v1/users/${vera?.id}`, { token: otherAdmin, body: { taxId: 'STOLEN-1' } }),
      404,
      'user_not_found',
    );
    expectProblem(
      await t.request('PATCH', '/v1/users/not-a-uuid', { token: admin, body: { taxId: 'X-1' } }),
      404,
    );
    expectProblem(await t.request('PATCH', `/v1/users/${vera?.id}`, { token: admin, body: {} }), 400);
    expectProblem(
      await t.request('PATCH', `/v1/users/${vera?.id}`, { token: admin, body: { taxId: 'bad tax id' } }),
      400,
    );
    expectProblem(
      await t.request('PATCH', `/v1/users/${vera?.id}`, { token: victim, body: { taxId: 'VERA-2' } }),
      403,
    );
    expectProblem(await t.request('GET', '/v1/users', { token: victim }), 403);
    expectProblem(await t.request('GET', '/v1/users'), 401);
    // Vera's row is untouched.
    const again = await t.request('GET', '/v1/users?limit=100', { token: admin });
    expect(
      (again.body.data as { username: string; taxId: string }[]).find((u) => u.username === 'vera'),
    ).toMatchObject({
      taxId: 'VICTIM-1',
      taxIdVerified: true,
    });
  });

  it('lists users newest first with cursor pagination, never a password or hash', async () => {
    const all = await t.request('GET', '/v1/users?limit=100', { token: admin });
    expect(all.status).toBe(200);
    expect(all.body.hasMore).toBe(false);
    const names = (all.body.data as { username: string }[]).map((u) => u.username);
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect(names.at(-1)).toBe('root');
    for (const user of all.body.data)
      expect(Object.keys(user).sort()).toEqual([
        'id',
        'role',
        'taxId',
        'taxIdVerified',
        'tenantId',
        'username',
      ]);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await t.request('GET', `/v1/users?limit=2${cursor ? `&startingAfter=${cursor}` : ''}`, {
        token: admin,
      });
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...(page.body.data as { username: string }[]).map((u) => u.username));
      if (!page.body.hasMore) break;
      cursor = page.body.data.at(-1).id as string;
    }
    expect(seen).toEqual(names);

    expectProblem(await t.request('GET', '/v1/users?limit=0', { token: admin }), 400);
    expectProblem(await t.request('GET', '/v1/users?limit=101', { token: admin }), 400);
    expectProblem(await t.request('GET', '/v1/users?startingAfter=nobody', { token: admin }), 404);
    expect(all.text).not.toMatch(/password|\$scrypt\$/i);
  });

  it('treats usernames as unique ignoring case: create, sign-up and login', async () => {
    expectProblem(
      await t.request('POST', '/v1/users', {
        token: admin,
        body: { username: 'VERA', password: 'another-password-1', taxId: 'V-2' },
      }),
      409,
      'username_taken',
    );
    expectProblem(await signup('Vera', 'V-3'), 409, 'username_taken');
    expectProblem(await signup('MALLORY', 'M-2'), 409, 'username_taken');
    // Same name in another tenant is fine.
    const elsewhere = await t.request('POST', '/v1/users', {
      token: otherAdmin,
      body: { username: 'VERA', password: 'vera-password-2', taxId: 'V-9' },
    });
    expect(elsewhere.status).toBe(201);
    // Login finds the user in any spelling.
    await login(tenant, 'VeRa', 'vera-password-1');
    await login(other, 'vera', 'vera-password-2');
  });
});
