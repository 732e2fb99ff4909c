import { type TestApp, startTestApp } from '../../support/test-app.js';

type Response = { content?: Record<string, { schema?: unknown }>; headers?: Record<string, unknown> };
type Parameter = { name: string; in: string; required?: boolean };
type Operation = {
  responses: Record<string, Response>;
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  security?: Record<string, unknown>[];
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { bearerFormat?: string }> };
};

/** Statuses that have no body by definition; any other success must say what it carries. */
const BODILESS = new Set(['204', '302', '303', '304']);

/**
 * The document clients generate from (issue 6 item 11). Every e2e response is checked against it in
 * `test-app.ts`; this spec checks the document itself: shapes, statuses, parameters and security.
 */
describe('OpenAPI document (e2e)', () => {
  let t: TestApp;
  let doc: Document;
  const operation = (method: string, path: string): Operation => {
    const found = doc.paths[path]?.[method];
    if (!found) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
    return found;
  };
  const parameterNames = (op: Operation, where: string) =>
    (op.parameters ?? []).filter((p) => p.in === where).map((p) => p.name);

  beforeAll(async () => {
    t = await startTestApp({ SIM_TRANSACTIONS: '20', SIM_LATENCY_MS: '200', POLL_BACKOFF_BASE_MS: '50' });
    const response = await fetch(`${t.baseUrl}/docs/openapi.json`);
    doc = (await response.json()) as Document;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is OpenAPI 3.1 and every JSON schema in it compiles (JSON Schema 2020-12)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect((await t.contract()).compileAll()).toEqual([]);
    const yaml = await fetch(`${t.baseUrl}/docs/openapi.yaml`);
    expect(yaml.status).toBe(200);
  });

  it('gives every operation a success with a body schema or a bodiless status, and problem+json errors', () => {
    const gaps: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        const successes = Object.entries(op.responses).filter(([status]) => /^[23]\d\d$/.test(status));
        if (successes.length === 0) gaps.push(`${where}: no success response`);
        for (const [status, response] of successes) {
          const content = Object.values(response.content ?? {});
          if (!BODILESS.has(status) && (content.length === 0 || content.some((c) => !c.schema)))
            gaps.push(`${where}: ${status} has no body schema`);
        }
        for (const range of ['4XX', '5XX'])
          if (!op.responses[range]?.content?.['application/problem+json'])
            gaps.push(`${where}: ${range} is not problem+json`);
        const body = op.requestBody?.content?.['application/json'];
        if (['post', 'patch', 'put'].includes(method) && body && !body.schema)
          gaps.push(`${where}: request body without a schema`);
      }
    expect(gaps).toEqual([]);
  });

  it('documents the statuses the routes really answer', () => {
    const created = operation('post', '/v1/reports');
    expect(Object.keys(created.responses)).toContain('202');
    expect(Object.keys(created.responses['202']?.headers ?? {})).toEqual(
      expect.arrayContaining(['Location', 'Retry-After']),
    );
    expect(parameterNames(created, 'header')).toEqual(expect.arrayContaining(['Idempotency-Key']));

    const file = operation('get', '/v1/reports/{id}/files/{name}');
    expect(Object.keys(file.responses).filter((s) => /^\d{3}$/.test(s))).toEqual(['302']);
    expect(parameterNames(file, 'path').sort()).toEqual(['id', 'name']);

    const events = operation('get', '/v1/reports/{id}/events');
    expect(Object.keys(events.responses['200']?.content ?? {})).toEqual(['text/event-stream']);
    expect(parameterNames(events, 'header')).toContain('Last-Event-ID');
    expect(parameterNames(events, 'query').sort()).toEqual(['access_token', 'lastEventId']);

    const download = operation('get', '/v1/files/download');
    expect(parameterNames(download, 'query').sort()).toEqual(['expires', 'key', 'name', 'sig', 'type']);

    expect(parameterNames(operation('get', '/v1/reports'), 'query').sort()).toEqual([
      'limit',
      'startingAfter',
    ]);
    expect(parameterNames(operation('get', '/v1/users'), 'query').sort()).toEqual(['limit', 'startingAfter']);
    expect(Object.keys(operation('post', '/v1/tenants').responses)).toContain('201');
    expect(Object.keys(operation('post', '/v1/auth/login').responses)).toContain('200');
  });

  it('names the right credential: the opaque operator or metrics token, user JWTs, or none', () => {
    expect(doc.components.securitySchemes.operator?.bearerFormat).toBeUndefined();
    expect(doc.components.securitySchemes.metrics?.bearerFormat).toBeUndefined();
    const schemesOf = (op: Operation) => (op.security ?? []).flatMap((s) => Object.keys(s)).sort();
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        const expected = /^\/v1\/(tenants|admin)(\/|$)/.test(path)
          ? ['operator']
          : path === '/metrics'
            ? ['metrics']
            : /^\/(health|v1\/auth|v1\/files)\//.test(path)
              ? []
              : ['bearer'];
        expect({ where, schemes: schemesOf(op) }).toEqual({ where, schemes: expected });
      }
  });

  it('finds the drift it is there to find (the checker every e2e response goes through)', async () => {
    const contract = await t.contract();
    const json = 'application/json; charset=utf-8';
    const ok = { status: 200, contentType: json, text: '{}' };
    // A field of the wrong shape, and one missing.
    const drift = contract.check('GET', '/v1/providers', {
      ...ok,
      body: { data: [{ name: 'nope', version: '1' }] },
    });
    expect(drift).toHaveLength(2);
    expect(drift).toEqual(
      expect.arrayContaining([
        expect.stringContaining('/data/0/name'),
        expect.stringContaining("'description'"),
      ]),
    );
    // The file route answers 302, never 200.
    expect(contract.check('GET', '/v1/reports/r1/files/a.csv', { ...ok, body: {} })).toEqual([
      expect.stringContaining('status not documented'),
    ]);
    // An error that is not problem+json, on a route and off one.
    const plain = { status: 404, contentType: 'text/html', text: 'Not Found', body: undefined };
    expect(contract.check('GET', '/v1/reports/r1', plain)).toHaveLength(1);
    expect(contract.check('GET', '/no/such/route', plain)).toHaveLength(1);
    // A status nobody documented on a path nobody documented.
    expect(contract.check('GET', '/no/such/route', { ...ok, body: {} })).toEqual([
      expect.stringContaining('no such operation'),
    ]);
    // And what conforms, does.
    const providers = await t.request('GET', '/v1/providers', { token: 'not-a-token' });
    expect(providers.status).toBe(401);
  });

  it('holds for the routes that answer other than JSON: 302, the download, SSE and its 204', async () => {
    const tenantId = `o${Date.now().toString(36)}`;
    const admin = { username: 'ada', password: 'ada-password-1', taxId: 'OA-1' };
    expect(
      (
        await t.request('POST', '/v1/tenants', {
          token: t.operatorToken,
          body: { id: tenantId, name: 'OA', admin },
        })
      ).status,
    ).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, ...admin, taxId: undefined },
    });
    const token = login.body.accessToken as string;
    const created = await t.request('POST', '/v1/reports', {
      token,
      body: { subject: { taxId: 'OA-1' } },
      headers: { 'idempotency-key': 'openapi-1' },
    });
    expect(created.status).toBe(202);
    const path = `/v1/reports/${created.body.id}`;
    const deadline = Date.now() + 60_000;
    let report = created;
    while (report.body.status !== 'ready') {
      if (Date.now() > deadline) throw new Error(`report still ${report.body.status}`);
      await new Promise((r) => setTimeout(r, 100));
      report = await t.request('GET', path, { token });
    }
    // request() checks each answer against the document; the statuses say the right route answered.
    const redirect = await t.request('GET', `${path}/files/transactions.csv`, { token });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location')!);
    const download = await t.request('GET', `${location.pathname}${location.search}`);
    expect(download.status).toBe(200);
    expect(download.contentType).toMatch(/^text\/csv/);
    location.searchParams.set('sig', 'x');
    expect((await t.request('GET', `${location.pathname}${location.search}`)).status).toBe(403);
    const events = await t.request('GET', `${path}/events?access_token=${token}`);
    expect(events.status).toBe(200);
    const lastId = [...events.text.matchAll(/^id: (\d+)$/gm)].at(-1)?.[1];
    expect(lastId).toBeDefined();
    const caughtUp = await t.request('GET', `${path}/events`, {
      token,
      headers: { 'last-event-id': lastId! },
    });
    expect(caughtUp.status).toBe(204);
    expect((await t.request('POST', `${path}/cancel`, { token })).status).toBe(409);
    expect((await t.request('GET', '/v1/reports?limit=1', { token })).status).toBe(200);
    expect((await t.request('GET', '/v1/users', { token })).status).toBe(200);
    expect((await t.request('GET', `/v1/tenants/${tenantId}`, { token: t.operatorToken })).status).toBe(200);
    expect((await t.request('HEAD', '/health/live')).status).toBe(200);
  });
});
