import { randomBytes } from 'node:crypto';
import { type TestApp, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

const ROWS = 120;
const newId = () => `m${randomBytes(5).toString('hex')}`;

/** The value of one series of a Prometheus text exposition (labels in any order); undefined when absent. */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[3]);
  }
  return undefined;
};

describe('GET /metrics (Prometheus, e2e)', () => {
  describe('open in development', () => {
    let t: TestApp;
    let admin = '';
    const tenantId = newId();

    beforeAll(async () => {
      t = await startTestApp({
        SIM_TRANSACTIONS: String(ROWS),
        // Long enough for a scrape to see the report's rows pending, even on a loaded machine.
        SIM_LATENCY_MS: '1500',
        POLL_BACKOFF_BASE_MS: '50',
        // A scrape reads the database at most this often: the test waits for values to move.
        METRICS_SCRAPE_CACHE_MS: '100',
      });
      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: {
          id: tenantId,
          name: 'Metrics Bank',
          admin: { username: 'root', password: 'root-password-1' },
        },
      });
      expect(created.status).toBe(201);
      const login = await t.request('POST', '/v1/auth/login', {
        body: { tenantId, username: 'root', password: 'root-password-1' },
      });
      admin = login.body.accessToken as string;
    }, 60_000);

    afterAll(async () => {
      await t?.close();
    });

    const scrape = async (): Promise<string> => {
      const response = await t.request('GET', '/metrics');
      expect(response.status).toBe(200);
      expect(response.contentType).toMatch(/^text\/plain/);
      return response.text;
    };

    it('names every series, and they move when a report completes', async () => {
      const before = await scrape();
      for (const name of [
        'conflux_http_request_duration_seconds',
        'conflux_reports_finished_total',
        'conflux_provider_call_duration_seconds',
        'conflux_scheduled_work',
        'conflux_subscription_lag_events',
        'conflux_subscription_lag_seconds',
        'conflux_file_stage_rows_total',
        'conflux_file_stage_duration_seconds',
        'conflux_parked_events',
      ])
        expect(before).toContain(`# TYPE ${name} `);
      expect(sample(before, 'conflux_scheduled_work', { state: 'due' })).toBeDefined();
      expect(sample(before, 'conflux_subscription_lag_events', { consumer: 'reports' })).toBe(0);
      expect(sample(before, 'conflux_parked_events', { consumer: 'scheduled-work' })).toBe(0);
      const readyBefore = sample(before, 'conflux_reports_finished_total', { status: 'ready' }) ?? 0;
      const rowsBefore = sample(before, 'conflux_file_stage_rows_total') ?? 0;

      const created = await t.request('POST', '/v1/reports', {
        token: admin,
        body: { subject: { taxId: 'MET-1' } },
      });
      expect(created.status).toBe(202);
      const id = created.body.id as string;
      // While it runs, its provider rows are scheduled work (due or claimed).
      await waitUntil('its rows show as scheduled work', async () => {
        const during = await scrape();
        const pending =
          (sample(during, 'conflux_scheduled_work', { state: 'due' }) ?? 0) +
          (sample(during, 'conflux_scheduled_work', { state: 'claimed' }) ?? 0);
        return pending > 0;
      });
      await waitUntil('the report is ready', async () => {
        const report = await t.request('GET', `/v1/reports/${id}`, { token: admin });
        return report.body.status === 'ready';
      });

      const after = await scrape();
      expect(sample(after, 'conflux_reports_finished_total', { status: 'ready' })).toBe(readyBefore + 1);
      expect(sample(after, 'conflux_file_stage_rows_total')).toBe(rowsBefore + ROWS);
      expect(sample(after, 'conflux_file_stage_duration_seconds_count')).toBeGreaterThanOrEqual(1);
      for (const provider of ['bank-transactions', 'credit-bureau', 'tax-authority'])
        for (const operation of ['submit', 'poll', 'fetch'])
          expect(
            sample(after, 'conflux_provider_call_duration_seconds_count', {
              provider,
              operation,
              outcome: 'ok',
            }),
          ).toBeGreaterThanOrEqual(1);
      // Route templates, never raw URLs: the report's id is in no label.
      expect(
        sample(after, 'conflux_http_request_duration_seconds_count', {
          method: 'POST',
          route: '/v1/reports',
          status: '202',
        }),
      ).toBe(1);
      expect(
        sample(after, 'conflux_http_request_duration_seconds_count', {
          method: 'GET',
          route: '/v1/reports/:id',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(after).not.toContain(id);
      expect(after).not.toContain('MET-1');
      // No tenant label unless the operator asks for one.
      expect(after).not.toContain(tenantId);
      // Its rows are gone once it is final.
      await waitUntil('no scheduled work is left', async () => {
        const now = await scrape();
        return (
          sample(now, 'conflux_scheduled_work', { state: 'due' }) === 0 &&
          sample(now, 'conflux_scheduled_work', { state: 'claimed' }) === 0
        );
      });
    }, 120_000);
  });

  describe('with METRICS_TOKEN and per-tenant labels', () => {
    let t: TestApp;
    const token = randomBytes(24).toString('base64url');

    beforeAll(async () => {
      t = await startTestApp({ METRICS_TOKEN: token, METRICS_PER_TENANT: 'true' });
    }, 60_000);

    afterAll(async () => {
      await t?.close();
    });

    it('answers 401 without the token or with a wrong one, 200 with it, with tenant labels', async () => {
      const tenantId = newId();
      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id: tenantId, name: 'Labelled', admin: { username: 'root', password: 'root-password-1' } },
      });
      expect(created.status).toBe(201);
      const none = await t.request('GET', '/metrics');
      expect(none.status).toBe(401);
      expect(none.contentType).toMatch(/^application\/problem\+json/);
      expect((await t.request('GET', '/metrics', { token: `${token}x` })).status).toBe(401);
      expect((await t.request('GET', '/metrics', { token: t.operatorToken })).status).toBe(401);
      const ok = await t.request('GET', '/metrics', { token });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('# TYPE conflux_reports_finished_total counter');
      await waitUntil('the tenant has its own lag series', async () => {
        const text = (await t.request('GET', '/metrics', { token })).text;
        return (
          sample(text, 'conflux_subscription_lag_events', { consumer: 'reports', tenant: tenantId }) === 0
        );
      });
      expect(t.logs.join('\n')).not.toContain(token);
    });
  });

  describe('in production without METRICS_TOKEN', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({
        NODE_ENV: 'production',
        OPERATOR_TOKEN: randomBytes(24).toString('base64url'),
        JWT_SECRET: randomBytes(48).toString('base64url'),
        MASTER_KEY: randomBytes(32).toString('base64'),
        HOST: '127.0.0.1',
        SHUTDOWN_DELAY_MS: '0',
        PROVIDER_BANK_URL: 'http://127.0.0.1:9/bank',
        PROVIDER_CREDIT_URL: 'http://127.0.0.1:9/credit',
        PROVIDER_TAX_URL: 'http://127.0.0.1:9/tax',
      });
    }, 60_000);

    afterAll(async () => {
      await t?.close();
    });

    it('is off: 404, as an unknown route', async () => {
      const response = await t.request('GET', '/metrics');
      expect(response.status).toBe(404);
      expect(response.contentType).toMatch(/^application\/problem\+json/);
      expect(response.text).not.toContain('conflux_');
    });
  });
});
