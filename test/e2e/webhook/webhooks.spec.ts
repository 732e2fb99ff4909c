import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { clusterUrl } from '../../support/database.js';
import { type TestApp, query, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';
import { type ReceivedWebhook, WebhookReceiver } from '../../support/webhook-receiver.js';

const newId = () => `w${randomBytes(5).toString('hex')}`;
const reportOf = (r: ReceivedWebhook): string =>
  (JSON.parse(r.body) as { data: { reportId: string } }).data.reportId;

describe('webhooks over HTTP with a real receiver (e2e)', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  const a = { id: newId(), admin: { username: 'ada', password: 'ada-password-1' } };
  const b = { id: newId(), admin: { username: 'bob', password: 'bob-password-1' } };
  let adminA: string;
  let adminB: string;
  let memberA: string;

  const login = async (tenantId: string, username: string, password: string): Promise<string> => {
    const response = await t.request('POST', '/v1/auth/login', { body: { tenantId, username, password } });
    expect(response.status).toBe(200);
    return response.body.accessToken as string;
  };

  const createEndpoint = async (
    token: string,
    path: string,
    events = ['report.ready', 'report.cancelled'],
  ) => {
    const created = await t.request('POST', '/v1/webhooks', {
      token,
      body: { url: `${receiver.url}${path}`, events, description: `receiver ${path}` },
    });
    expect(created.status).toBe(201);
    return created.body as { id: string; secret: string; status: string };
  };

  /** A report that ends at once: requested, then cancelled (ReportCancelled). */
  const cancelledReport = async (token: string): Promise<string> => {
    const created = await t.request('POST', '/v1/reports', { token, body: { subject: { taxId: 'slow-1' } } });
    expect(created.status).toBe(202);
    const cancelled = await t.request('POST', `/v1/reports/${created.body.id}/cancel`, { token });
    expect(cancelled.status).toBe(202);
    return created.body.id as string;
  };

  const requestsFor = (path: string, reportId: string) =>
    receiver.at(path).filter((r) => reportOf(r) === reportId);

  const deliveries = async (token: string, endpointId: string) => {
    const response = await t.request('GET', `/v1/webhooks/${endpointId}/deliveries`, { token });
    expect(response.status).toBe(200);
    return response.body as { data: Record<string, unknown>[]; hasMore: boolean };
  };

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    t = await startTestApp({
      SIM_TRANSACTIONS: '50',
      SIM_LATENCY_MS: '300',
      POLL_BACKOFF_BASE_MS: '50',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms',
      WEBHOOK_CONCURRENCY: '4', // two per tenant at most
    });
    for (const tn of [a, b]) {
      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id: tn.id, name: tn.id, admin: tn.admin },
      });
      expect(created.status).toBe(201);
    }
    adminA = await login(a.id, a.admin.username, a.admin.password);
    adminB = await login(b.id, b.admin.username, b.admin.password);
    const member = await t.request('POST', '/v1/users', {
      token: adminA,
      body: { username: 'mia', password: 'mia-password-1', taxId: 'MIA-1', role: 'member' },
    });
    expect(member.status).toBe(201);
    memberA = await login(a.id, 'mia', 'mia-password-1');
  }, 60_000);

  afterAll(async () => {
    await receiver?.stop();
    await t?.close();
  });

  it('creates an endpoint with its secret shown once, and refuses bad input naming the field', async () => {
    const created = await t.request('POST', '/v1/webhooks', {
      token: adminA,
      body: { url: `${receiver.url}/crud`, events: ['report.ready'] },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({
      url: `${receiver.url}/crud`,
      events: ['report.ready'],
      description: null,
      status: 'enabled',
    });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const got = await t.request('GET', `/v1/webhooks/${created.body.id}`, { token: adminA });
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('secret');
    const listed = await t.request('GET', '/v1/webhooks', { token: adminA });
    expect(listed.body.data.map((e: { id: string }) => e.id)).toContain(created.body.id);
    expect(listed.text).not.toContain('whsec_');
    const stored = await t.query<{ secret_encrypted: string }>(
      `${t.controlUrl.replace(/\/[^/]*$/, '')}/conflux_tenant_${a.id}`,
      'SELECT secret_encrypted FROM webhook_endpoints WHERE id = $1',
      [created.body.id],
    );
    expect(stored[0].secret_encrypted).not.toContain(created.body.secret.slice(6, 20));
    expect(t.logs.join('\n')).not.toContain(created.body.secret.slice(6));

    for (const [body, field] of [
      [{ url: 'ftp://example.com/x', events: ['report.ready'] }, 'url'],
      [{ url: 'not a url', events: ['report.ready'] }, 'url'],
      [{ url: 'https://example.com/x', events: ['report.nope'] }, 'events.0'],
      [{ url: 'https://example.com/x', events: [] }, 'events'],
      [{ url: 'https://example.com/x', events: ['report.ready'], secret: 'mine' }, 'secret'],
    ] as const) {
      const refused = await t.request('POST', '/v1/webhooks', { token: adminA, body });
      expect(refused.status).toBe(400);
      expect(refused.contentType).toContain('application/problem+json');
      expect(refused.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect((await t.request('GET', '/v1/webhooks', { token: memberA })).status).toBe(403);

    expect((await t.request('DELETE', `/v1/webhooks/${created.body.id}`, { token: adminA })).status).toBe(
      204,
    );
    expect((await t.request('GET', `/v1/webhooks/${created.body.id}`, { token: adminA })).status).toBe(404);
  });

  it("keeps tenants apart: another tenant's admin gets 404 for every route of the endpoint", async () => {
    const endpoint = await createEndpoint(adminA, '/apart', ['report.failed']);
    for (const [method, suffix] of [
      ['GET', ''],
      ['DELETE', ''],
      ['POST', '/rotate-secret'],
      ['GET', '/deliveries'],
    ] as const) {
      const response = await t.request(method, `/v1/webhooks/${endpoint.id}${suffix}`, { token: adminB });
      expect(response.status).toBe(404);
    }
    const listed = await t.request('GET', '/v1/webhooks', { token: adminB });
    expect(listed.body.data.map((e: { id: string }) => e.id)).not.toContain(endpoint.id);
    expect((await t.request('GET', `/v1/webhooks/${endpoint.id}`, { token: adminA })).status).toBe(200);
  });

  it('POSTs a ready report signed per Standard Webhooks: the signature verifies with the secret', async () => {
    const endpoint = await createEndpoint(adminA, '/signed');
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const created = await t.request('POST', '/v1/reports', {
      token: adminA,
      body: { subject: { taxId: 'SIG-1' } },
      headers: { traceparent },
    });
    expect(created.status).toBe(202);
    await waitUntil(
      'the ready report is delivered',
      () => requestsFor('/signed', created.body.id).length > 0,
    );

    const [request] = requestsFor('/signed', created.body.id);
    const headers = request.headers as Record<string, string>;
    expect(headers['webhook-id']).toMatch(/^msg_/);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(headers['content-type']).toBe('application/json');
    expect(headers.traceparent).toBe(traceparent);
    const payload = new Webhook(endpoint.secret).verify(request.body, headers) as Record<string, any>;
    expect(payload).toMatchObject({
      type: 'report.ready',
      data: { reportId: created.body.id, tenantId: a.id, status: 'ready', error: null },
    });
    expect(payload.data.files.map((f: { name: string }) => f.name)).toContain('transactions.csv');
    expect(request.body).not.toContain('SIG-1'); // no tax ID
    expect(request.body).not.toContain('http'); // no URL
    expect(() =>
      new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(request.body, headers),
    ).toThrow();
  });

  it('retries 503, 503 then 204: three attempts with one webhook-id, all in the delivery log', async () => {
    receiver.respond('/flaky', (n) => (n < 2 ? 503 : 204));
    const endpoint = await createEndpoint(adminA, '/flaky');
    const reportId = await cancelledReport(adminA);
    await waitUntil('three attempts arrive', () => requestsFor('/flaky', reportId).length >= 3);
    await waitUntil(
      'the log has all three',
      async () => (await deliveries(adminA, endpoint.id)).data.length >= 3,
    );

    const attempts = requestsFor('/flaky', reportId);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const r of attempts)
      new Webhook(endpoint.secret).verify(r.body, r.headers as Record<string, string>);

    const log = await deliveries(adminA, endpoint.id);
    expect(log.data.map((d) => [d.attempt, d.status, d.responseStatus])).toEqual([
      [3, 'delivered', 204],
      [2, 'retrying', 503],
      [1, 'retrying', 503],
    ]);
    expect(log.data.every((d) => d.reportId === reportId && d.eventType === 'report.cancelled')).toBe(true);
    expect(log.data[0].nextAttemptAt).toBeNull();
    expect(log.data[1].nextAttemptAt).toEqual(expect.any(String));
    const page = await t.request('GET', `/v1/webhooks/${endpoint.id}/deliveries?limit=2`, { token: adminA });
    expect(page.body.hasMore).toBe(true);
    const rest = await t.request(
      'GET',
      `/v1/webhooks/${endpoint.id}/deliveries?limit=2&startingAfter=${page.body.data[1].id}`,
      { token: adminA },
    );
    expect(rest.body).toMatchObject({ data: [{ attempt: 1 }], hasMore: false });
  });

  it('gives up after the schedule: four attempts for three delays, the last one failed, nothing left queued', async () => {
    receiver.respond('/broken', () => 500);
    const endpoint = await createEndpoint(adminA, '/broken');
    const reportId = await cancelledReport(adminA);
    await waitUntil('the delivery is given up', async () =>
      (await deliveries(adminA, endpoint.id)).data.some((d) => d.status === 'failed'),
    );
    expect(requestsFor('/broken', reportId)).toHaveLength(4);
    const log = await deliveries(adminA, endpoint.id);
    expect(log.data[0]).toMatchObject({
      attempt: 4,
      status: 'failed',
      responseStatus: 500,
      nextAttemptAt: null,
    });
    const queued = await t.query(t.controlUrl, `SELECT 1 FROM scheduled_work WHERE queue = 'webhook'`);
    expect(queued).toEqual([]);
    expect((await t.request('GET', `/v1/webhooks/${endpoint.id}`, { token: adminA })).body.status).toBe(
      'enabled',
    );
  });

  it('disables an endpoint that answers 410, and sends it nothing more', async () => {
    receiver.respond('/gone', () => 410);
    const gone = await createEndpoint(adminA, '/gone');
    const first = await cancelledReport(adminA);
    await waitUntil('the endpoint is disabled', async () => {
      const got = await t.request('GET', `/v1/webhooks/${gone.id}`, { token: adminA });
      return got.body.status === 'disabled';
    });
    expect(requestsFor('/gone', first)).toHaveLength(1);
    expect((await deliveries(adminA, gone.id)).data).toMatchObject([
      { attempt: 1, status: 'failed', responseStatus: 410, nextAttemptAt: null },
    ]);

    const control = await createEndpoint(adminA, '/after-gone');
    const second = await cancelledReport(adminA);
    await waitUntil(
      'the other endpoint got the next event',
      () => requestsFor('/after-gone', second).length > 0,
    );
    expect(requestsFor('/gone', second)).toHaveLength(0);
    expect(receiver.at('/gone')).toHaveLength(1);
    await t.request('DELETE', `/v1/webhooks/${control.id}`, { token: adminA });
  });

  it('signs with both secrets for 24 h after a rotation; each signature verifies', async () => {
    const endpoint = await createEndpoint(adminA, '/rotated');
    const rotated = await t.request('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { token: adminA });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(endpoint.secret);

    const reportId = await cancelledReport(adminA);
    await waitUntil('the delivery arrives', () => requestsFor('/rotated', reportId).length > 0);
    const [request] = requestsFor('/rotated', reportId);
    const headers = request.headers as Record<string, string>;
    const signatures = headers['webhook-signature'].split(' ');
    expect(signatures).toHaveLength(2);
    for (const [secret, signature] of [
      [rotated.body.secret as string, signatures[0]],
      [endpoint.secret, signatures[1]],
    ])
      expect(
        new Webhook(secret).verify(request.body, { ...headers, 'webhook-signature': signature }),
      ).toBeTruthy();
  });

  it("does not let one tenant's unreachable database hold up another tenant's webhooks, and loses nothing", async () => {
    const endpointA = await createEndpoint(adminA, '/outage-a', ['report.failed']);
    const endpointB = await createEndpoint(adminB, '/outage-b', ['report.cancelled']);
    const databaseA = `conflux_tenant_${a.id}`;
    const failing = await t.request('POST', '/v1/reports', {
      token: adminA,
      body: { subject: { taxId: 'fail-credit-9' } },
    });
    expect(failing.status).toBe(202);
    await query(clusterUrl(), `ALTER DATABASE "${databaseA}" ALLOW_CONNECTIONS false`);
    await query(clusterUrl(), 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      databaseA,
    ]);
    try {
      await waitUntil("tenant A's fan-out has failed at least once", async () => {
        const rows = await t.query(
          t.controlUrl,
          `SELECT 1 FROM scheduled_work WHERE queue = 'webhook' AND kind = 'fan-out' AND report_id = $1 AND attempt >= 1`,
          [failing.body.id],
        );
        return rows.length > 0;
      });
      const reportB = await cancelledReport(adminB);
      await waitUntil("tenant B's delivery arrives", () => requestsFor('/outage-b', reportB).length > 0);
      expect(requestsFor('/outage-a', failing.body.id)).toHaveLength(0);
    } finally {
      await query(clusterUrl(), `ALTER DATABASE "${databaseA}" ALLOW_CONNECTIONS true`);
    }
    await waitUntil(
      "tenant A's delivery arrives once its database is back",
      () => requestsFor('/outage-a', failing.body.id).length > 0,
    );
    expect(JSON.parse(requestsFor('/outage-a', failing.body.id)[0].body)).toMatchObject({
      type: 'report.failed',
      data: { status: 'failed', error: { provider: 'credit-bureau' } },
    });
    await t.request('DELETE', `/v1/webhooks/${endpointA.id}`, { token: adminA });
    await t.request('DELETE', `/v1/webhooks/${endpointB.id}`, { token: adminB });
  }, 120_000);

  it("does not let one tenant's dead receiver delay another tenant's delivery", async () => {
    receiver.respond('/dead', () => 'hang');
    const dead = await Promise.all([1, 2, 3].map(() => createEndpoint(adminA, '/dead')));
    await cancelledReport(adminA);
    await waitUntil('tenant A holds its two slots with hanging requests', () => receiver.hanging >= 2);

    const alive = await createEndpoint(adminB, '/alive');
    const reportB = await cancelledReport(adminB);
    await waitUntil("tenant B's delivery arrives", () => requestsFor('/alive', reportB).length > 0);
    // B was served while every request to A's dead receiver was still hanging (each lasts up to 15 s).
    expect(receiver.closed).toBe(0);
    expect(receiver.hanging).toBe(2); // A never held more than its share
    for (const endpoint of [...dead, alive])
      await t.request('DELETE', `/v1/webhooks/${endpoint.id}`, {
        token: endpoint === alive ? adminB : adminA,
      });
  });
});

describe('webhook SSRF guard at endpoint creation (e2e, private networks not allowed)', () => {
  let t: TestApp;
  let admin: string;
  const tenant = { id: newId(), admin: { username: 'ada', password: 'ada-password-1' } };

  beforeAll(async () => {
    t = await startTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' });
    expect(
      (
        await t.request('POST', '/v1/tenants', {
          token: t.operatorToken,
          body: { ...tenant, name: tenant.id },
        })
      ).status,
    ).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId: tenant.id, username: 'ada', password: 'ada-password-1' },
    });
    admin = login.body.accessToken as string;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it.each([
    'http://127.0.0.1:8080/hook',
    'http://localhost/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[fd00:ec2::254]/hook',
    'http://10.1.2.3/hook',
    'https://192.168.0.10/hook',
    'http://100.64.0.1/hook',
    'http://0.0.0.0/hook',
  ])('refuses %s with 400 naming url', async (url) => {
    const response = await t.request('POST', '/v1/webhooks', {
      token: admin,
      body: { url, events: ['report.ready'] },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'url', message: expect.stringContaining('not a public address') },
    ]);
    expect((await t.request('GET', '/v1/webhooks', { token: admin })).body.data).toEqual([]);
  });
});
