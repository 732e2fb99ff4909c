import { randomBytes } from 'node:crypto';
import { DrainingState } from '../../../src/interfaces/http/health/draining-state.js';
import { type TestApp, type TestResponse, startTestApp } from '../../support/test-app.js';

const expectProblem = (response: TestResponse, status: number) => {
  expect({ status: response.status, contentType: response.contentType }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json/),
  });
  expect(response.body).toEqual(
    expect.objectContaining({
      type: expect.any(String),
      title: expect.any(String),
      status,
      detail: expect.any(String),
    }),
  );
  expect(response.text).not.toMatch(/stack|at .*\.js:\d+|SELECT |INSERT /);
};

const fieldsOf = (response: TestResponse): string[] =>
  (response.body.errors as { field: string }[]).map((e) => e.field).sort();

describe('errors and health (e2e)', () => {
  let t: TestApp;
  const tenantId = `t${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is live and ready', async () => {
    const live = await t.request('GET', '/health/live');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok' });

    const ready = await t.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ok',
      details: { database: { status: 'up' }, eventStore: { status: 'up' }, objectStorage: { status: 'up' } },
    });
  });

  it('serves the OpenAPI document', async () => {
    const doc = await t.request('GET', '/docs/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/tenants',
        '/v1/tenants/{id}',
        '/v1/users',
        '/v1/auth/login',
        '/v1/auth/signup',
      ]),
    );
    expect((await fetch(`${t.baseUrl}/docs`)).status).toBe(200);
  });

  it('answers invalid fields with 400, naming each field by its path', async () => {
    const tenant = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: 'Not-Valid', admin: { username: 'alice', password: 'short' }, selfSignup: 'yes' },
    });
    expectProblem(tenant, 400);
    expect(fieldsOf(tenant)).toEqual(['admin.password', 'id', 'name', 'selfSignup']);
    expect(tenant.body.errors).toContainEqual({
      field: 'admin.password',
      message: 'must be at least 8 characters',
    });

    const login = await t.request('POST', '/v1/auth/login', { body: { tenantId: tenantId } });
    expectProblem(login, 400);
    expect(fieldsOf(login)).toEqual(['password', 'username']);

    const signup = await t.request('POST', '/v1/auth/signup', {
      body: { tenantId, username: 'bad name!', password: '1234567', taxId: '' },
    });
    expectProblem(signup, 400);
    expect(fieldsOf(signup)).toEqual(['password', 'taxId', 'username']);

    const noBody = await t.request('POST', '/v1/auth/login');
    expectProblem(noBody, 400);
    expect(fieldsOf(noBody)).toEqual(['body']);
  });

  it('answers malformed JSON with 400', async () => {
    const response = await t.request('POST', '/v1/auth/login', { rawBody: '{"tenantId": "acme", ' });
    expectProblem(response, 400);
    expect(response.body.detail).toBe('The request body is not valid JSON.');
  });

  it('answers a body over 1 MiB with 413, and accepts one just under', async () => {
    const over = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'u', password: 'x'.repeat(1024 * 1024) },
    });
    expectProblem(over, 413);

    const under = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'u', password: 'x'.repeat(1000), padding: 'y'.repeat(1024 * 1024 - 2000) },
    });
    expectProblem(under, 401);
  });

  it('answers unknown routes and unknown tenants with 404', async () => {
    expectProblem(await t.request('GET', '/v1/nothing-here'), 404);
    expectProblem(await t.request('GET', `/v1/tenants/${tenantId}`, { token: t.operatorToken }), 404);
  });

  it('turns not ready, naming the event store, while the event store cannot be read', async () => {
    await t.query(t.controlUrl, 'ALTER TABLE events RENAME TO events_moved_away');
    try {
      const ready = await t.request('GET', '/health/ready');
      expectProblem(ready, 503);
      expect(ready.body.failing).toEqual(['eventStore']);
      expect(ready.body.detail).toBe('Not ready: eventStore.');
      expect(ready.body.checks.database).toEqual({ status: 'up' });
    } finally {
      await t.query(t.controlUrl, 'ALTER TABLE events_moved_away RENAME TO events');
    }
    expect((await t.request('GET', '/health/ready')).status).toBe(200);
  });

  it('turns not ready first when shutting down, while still live', async () => {
    t.conflux.app.get(DrainingState).start();
    const ready = await t.request('GET', '/health/ready');
    expectProblem(ready, 503);
    expect(ready.body.failing).toEqual(['shutdown']);
    expect((await t.request('GET', '/health/live')).status).toBe(200);
  });
});
