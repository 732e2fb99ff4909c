import { createHmac, randomBytes } from 'node:crypto';
import { type TestApp, startTestApp } from '../../support/test-app.js';

/** Issue 6, item 8: tokens must expire; security and caching headers on every response. */
const JWT_SECRET = randomBytes(32).toString('hex');
const newId = () => `h${randomBytes(5).toString('hex')}`;

/** An HS256 JWT signed with the app's secret: correctly signed, whatever its claims. */
const sign = (claims: Record<string, unknown>): string => {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`;
};

describe('tokens and headers (e2e)', () => {
  let t: TestApp;
  const tenant = newId();
  let claims: Record<string, unknown>;
  let token: string;

  beforeAll(async () => {
    t = await startTestApp({ JWT_SECRET, JWT_TTL_SECONDS: '3600' });
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenant, name: tenant, admin: { username: 'root', password: 'root-password-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId: tenant, username: 'root', password: 'root-password-1' },
    });
    expect(login.status).toBe(200);
    token = login.body.accessToken as string;
    claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('refuses a correctly signed token without exp, or with an exp beyond the token lifetime', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { sub, tid, role } = claims;
    // The forged-but-valid control: same secret, sane exp — accepted, so the refusals below are about exp.
    const sane = await t.request('GET', '/v1/users', {
      token: sign({ sub, tid, role, iat: now, exp: now + 600 }),
    });
    expect(sane.status).toBe(200);

    for (const bad of [
      { sub, tid, role },
      { sub, tid, role, iat: now },
      { sub, tid, role, iat: now, exp: now + 10 * 365 * 86_400 },
      { sub, tid, role, iat: now, exp: 'never' },
      { sub, tid, role, iat: now - 7200, exp: now - 10 },
    ]) {
      const answer = await t.request('GET', '/v1/users', { token: sign(bad) });
      expect({ claims: bad, status: answer.status }).toEqual({ claims: bad, status: 401 });
    }
  });

  it('refuses a correctly signed token whose claims have the wrong shape, or whose user no longer exists (401)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { sub, tid, role } = claims;
    const exp = now + 600;
    // Routes that read the caller's row (GET /v1/users: the admin check; POST /v1/reports: the tax id).
    // GET /v1/reports reads no user row, so a UUID of nobody there is checked by shape only.
    const requests = (bearer: string) => [
      t.request('GET', '/v1/users', { token: bearer }),
      t.request('POST', '/v1/reports', { token: bearer, body: { subject: { taxId: 'X-1' } } }),
    ];
    for (const bad of [
      { sub: 'nobody-123', tid, role, exp },
      { sub: `${String(sub)}x`, tid, role, exp },
      { sub: 42, tid, role, exp },
      { sub, tid: 'Not A Tenant', role, exp },
      { sub, tid: `${String(tid)}'`, role, exp },
      { sub, tid, role: 'root', exp },
      { sub: 'nobody-123', tid, role: 'member', exp },
      // A UUID that names no user (deleted, or never existed): nobody's token.
      { sub: '00000000-0000-4000-8000-000000000000', tid, role, exp },
    ]) {
      const answers = await Promise.all(requests(sign(bad)));
      for (const answer of answers)
        expect({ claims: bad, status: answer.status, type: answer.contentType }).toEqual({
          claims: bad,
          status: 401,
          type: expect.stringMatching(/^application\/problem\+json/),
        });
    }
  });

  it('sends Cache-Control: no-store on the login response and on API responses', async () => {
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId: tenant, username: 'root', password: 'root-password-1' },
    });
    expect(login.headers.get('cache-control')).toBe('no-store');
    for (const path of ['/v1/reports', '/v1/users', '/v1/reports/nope'])
      expect((await t.request('GET', path, { token })).headers.get('cache-control')).toBe('no-store');
  });

  it('sends X-Content-Type-Options: nosniff on every response, errors and docs included', async () => {
    const answers = [
      await t.request('GET', '/health/live'),
      await t.request('GET', '/v1/reports'),
      await t.request('GET', '/no/such/route'),
      await t.request('POST', '/v1/auth/login', { rawBody: '{not json' }),
      await t.request('GET', '/docs'),
      await t.request('GET', '/docs/openapi.json'),
    ];
    for (const answer of answers) expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('gives /docs a CSP that lets Swagger UI load its own files and nothing else; the API allows nothing', async () => {
    const docs = await t.request('GET', '/docs');
    expect(docs.status).toBe(200);
    const csp = docs.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    // Every script Swagger UI's page loads is a file of this origin (no inline script the CSP would block).
    const scripts = [...docs.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/src="(\.\/|\/docs\/)?[\w./-]+"/);
      expect(body.trim()).toBe('');
    }
    for (const [, src] of docs.text.matchAll(/<script[^>]*src="([^"]+)"/g)) {
      const asset = await t.request('GET', new URL(src, `${t.baseUrl}/docs`).pathname);
      expect({ src, status: asset.status }).toEqual({ src, status: 200 });
    }

    const api = await t.request('GET', '/v1/reports', { token });
    expect(api.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});
