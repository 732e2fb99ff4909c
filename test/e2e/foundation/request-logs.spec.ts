import { randomBytes } from 'node:crypto';
import { type TestApp, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

/** One log line per request, with what an operator needs and none of the caller's secrets. */
describe('request logs (e2e)', () => {
  let t: TestApp;
  let token: string;
  const tenantId = `q${randomBytes(5).toString('hex')}`;

  const linesOf = (requestId: string) =>
    t.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.requestId === requestId && line.component === 'http');

  beforeAll(async () => {
    t = await startTestApp();
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenantId, name: tenantId, admin: { username: 'ada', password: 'ada-password-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'ada', password: 'ada-password-1' },
    });
    token = login.body.accessToken as string;
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('writes one line per request with method, route, status, duration, request id and tenant; no secret', async () => {
    const queryToken = `${token}.query`;
    const response = await fetch(`${t.baseUrl}/v1/reports/no-such-report?access_token=${queryToken}`, {
      headers: {
        authorization: `Bearer ${token}`,
        cookie: 'session=cookie-secret-123',
        'x-request-id': 'req-42.abc',
      },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('req-42.abc');
    await waitUntil('the request is logged', () => linesOf('req-42.abc').length > 0);
    const lines = linesOf('req-42.abc');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      method: 'GET',
      route: '/v1/reports/:id',
      status: 404,
      tenantId,
      requestId: 'req-42.abc',
    });
    expect(typeof lines[0].durationMs).toBe('number');
    const everything = t.logs.join('\n');
    for (const secret of [token, queryToken, 'cookie-secret-123', 'no-such-report?'])
      expect(everything).not.toContain(secret);
  });

  it('generates a request id when the incoming one is not sane, and logs a request no route matched', async () => {
    const response = await fetch(`${t.baseUrl}/v1/nowhere?access_token=abc-secret-456`, {
      headers: { 'x-request-id': `bad id ${'x'.repeat(200)}` },
    });
    const id = response.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await waitUntil('the request is logged', () => linesOf(id).length > 0);
    expect(linesOf(id)).toEqual([
      expect.objectContaining({ method: 'GET', route: null, status: response.status }),
    ]);
    expect(t.logs.join('\n')).not.toContain('abc-secret-456');
  });
});
