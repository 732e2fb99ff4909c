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
    try {
      await store.appendToStream(`report-${tenant}.${newId()}`, [
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
});
