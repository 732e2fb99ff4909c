import { randomBytes, randomUUID } from 'node:crypto';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';

const newId = () => `r${randomBytes(5).toString('hex')}`;

/**
 * A poison event in a tenant's report streams, through the whole application: the tenant's reports read
 * model and the process manager park it with its error, later reports of the tenant are still listed and
 * still end ready, and readiness shows the parked events and each subscription's lag.
 */
describe('a poison event in a tenant projection (e2e)', () => {
  let t: TestApp;
  let token: string;
  const tenant = newId();

  beforeAll(async () => {
    t = await startTestApp({
      SIM_LATENCY_MS: '100',
      POLL_BACKOFF_BASE_MS: '50',
      SUBSCRIPTION_MAX_ATTEMPTS: '2',
    });
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenant, name: tenant, admin: { username: 'ada', password: 'ada-password-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId: tenant, username: 'ada', password: 'ada-password-1' },
    });
    token = login.body.accessToken as string;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  let poisoned: { eventId: string; reportId: string } | undefined;

  const request = async (taxId: string): Promise<string> => {
    const response = await t.request('POST', '/v1/reports', { token, body: { subject: { taxId } } });
    expect(response.status).toBe(202);
    return response.body.id as string;
  };
  /** Waits until the read model lists the report as ready. */
  const listedReady = async (id: string, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = await t.request('GET', '/v1/reports?limit=100', { token });
      const row = (list.body.data as { id: string; status: string }[]).find((r) => r.id === id);
      if (row?.status === 'ready') return;
      if (Date.now() > deadline) throw new Error(`report ${id} listed as ${row?.status ?? 'missing'}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('parks it, lists and finishes the reports after it, and shows it in readiness', async () => {
    await listedReady(await request('BEFORE-1'));
    const store = await PostgresEventStore.create(t.controlUrl, { migrate: false });
    const poisonId = randomUUID();
    poisoned = { eventId: poisonId, reportId: newId() };
    try {
      await store.appendToStream(`report-${tenant}.${poisoned.reportId}`, [
        {
          id: poisonId,
          type: 'ReportRequestedV9',
          data: { shape: 'from the future' },
          metadata: { tenantId: tenant },
        },
      ]);
    } finally {
      await store.close();
    }
    const after = await request('AFTER-1');

    await listedReady(after);
    const parked = await t.query<{ subscription: string; error: string; attempts: number }>(
      t.controlUrl,
      'SELECT subscription, error, attempts FROM parked_events WHERE event_id = $1 ORDER BY subscription',
      [poisonId],
    );
    const ready = await t.request('GET', '/health/ready');

    expect(parked.map((p) => p.subscription)).toEqual([`reports:${tenant}`, 'scheduled-work']);
    for (const p of parked) expect(p.error).toMatch(/ReportRequestedV9 .*unknown event type/);
    expect(ready.status).toBe(200);
    const detail = ready.body.details.subscriptions;
    expect(detail.parked).toMatchObject({ [`reports:${tenant}`]: 1, 'scheduled-work': 1 });
    expect(detail.parkedTotal).toBe(2);
    expect(detail.lag[`reports:${tenant}`]).toMatchObject({ behind: expect.any(Number), capped: false });
    expect(detail.lag['scheduled-work']).toMatchObject({ behind: expect.any(Number) });
  }, 120_000);

  it('lets an operator list, retry after a fix, and skip parked events, recording each action', async () => {
    const { eventId, reportId } = poisoned!;
    const operator = (method: string, path: string) => t.request(method, path, { token: t.operatorToken });
    const listed = await operator('GET', '/v1/admin/parked-events');
    expect(listed.status).toBe(200);
    expect(listed.body.data.filter((e: { eventId: string }) => e.eventId === eventId)).toHaveLength(2);
    const reports = `reports:${tenant}`;

    // Before a fix the event still cannot be read: it stays parked.
    const early = await operator('POST', `/v1/admin/parked-events/${reports}/${eventId}/retry`);
    expect(early.status).toBe(409);
    expect(early.body.detail).toContain('unknown event type');
    // The process manager's parked events are skipped, not retried (that could repeat provider calls).
    expect((await operator('POST', `/v1/admin/parked-events/scheduled-work/${eventId}/retry`)).status).toBe(
      409,
    );

    // "A fix is deployed": the event now reads as a ReportRequested (what an upcaster would make of it).
    await t.query(t.controlUrl, `UPDATE events SET type = 'ReportRequested', data = $2 WHERE id = $1`, [
      eventId,
      {
        reportId,
        tenantId: tenant,
        subject: { taxId: 'FIXED-1' },
        period: { from: '2025-01-01', to: '2025-06-30' },
        requestedBy: 'operator-fix',
        requestedAt: new Date().toISOString(),
      },
    ]);
    const retried = await operator('POST', `/v1/admin/parked-events/${reports}/${eventId}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ action: 'retried', actor: 'operator (API)', event: { eventId } });
    const row = await t.query<{ status: string }>(
      t.controlUrl.replace(/\/[^/]*$/, `/conflux_tenant_${tenant}`),
      'SELECT status FROM reports WHERE id = $1',
      [reportId],
    );
    expect(row).toEqual([{ status: 'pending' }]);

    const skipped = await operator('POST', `/v1/admin/parked-events/scheduled-work/${eventId}/skip`);
    expect(skipped.status).toBe(200);
    expect((await operator('POST', `/v1/admin/parked-events/scheduled-work/${eventId}/skip`)).status).toBe(
      404,
    );
    expect((await operator('GET', '/v1/admin/parked-events')).body.data).toEqual([]);
    const actions = await operator('GET', '/v1/admin/parked-events/actions');
    expect(
      actions.body.data.map((a: { action: string; subscription: string }) => [a.action, a.subscription]),
    ).toEqual([
      ['skipped', 'scheduled-work'],
      ['retried', reports],
    ]);
    // Tenant admins have no say here.
    expect((await t.request('GET', '/v1/admin/parked-events', { token })).status).toBe(403);
  }, 120_000);
});
