import {
  PrometheusMetrics,
  type ScrapeSources,
} from '../../../../src/infrastructure/observability/prometheus-metrics.js';

const lag = (behind: number, oldestPendingSeconds: number) => ({
  behind,
  capped: false,
  oldestPendingSeconds,
});

const sources = (overrides: Partial<ScrapeSources> = {}): ScrapeSources => ({
  scheduledWork: async () => [
    { tenantId: 'acme', due: 2, claimed: 1, overdue: 1 },
    { tenantId: 'bolt', due: 3, claimed: 0, overdue: 0 },
  ],
  subscriptionLag: async () => ({
    'scheduled-work': lag(4, 2),
    'reports:acme': lag(5, 30),
    'reports:bolt': lag(7, 10),
  }),
  parked: async () => ({ 'reports:bolt': 2 }),
  ...overrides,
});

const lines = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));

describe('PrometheusMetrics', () => {
  it('aggregates over tenants by default: sums of rows and events, the worst lag age', async () => {
    const metrics = new PrometheusMetrics({ perTenant: false, scrapeCacheMs: 0 }, sources());
    metrics.reportFinished('acme', 'ready');
    metrics.providerCall({
      tenantId: 'acme',
      provider: 'tax-authority',
      operation: 'poll',
      outcome: 'ok',
      seconds: 0.2,
    });
    const text = await metrics.scrape();
    expect(lines(text, 'conflux_scheduled_work')).toEqual([
      'conflux_scheduled_work{state="due"} 5',
      'conflux_scheduled_work{state="claimed"} 1',
      'conflux_scheduled_work{state="overdue"} 1',
    ]);
    expect(lines(text, 'conflux_subscription_lag_events').sort()).toEqual([
      'conflux_subscription_lag_events{consumer="reports"} 12',
      'conflux_subscription_lag_events{consumer="scheduled-work"} 4',
    ]);
    expect(lines(text, 'conflux_subscription_lag_seconds')).toContain(
      'conflux_subscription_lag_seconds{consumer="reports"} 30',
    );
    expect(lines(text, 'conflux_parked_events').sort()).toEqual([
      'conflux_parked_events{consumer="reports"} 2',
      'conflux_parked_events{consumer="scheduled-work"} 0',
    ]);
    expect(lines(text, 'conflux_reports_finished_total')).toEqual([
      'conflux_reports_finished_total{status="ready"} 1',
    ]);
    expect(text).not.toMatch(/acme|bolt/);
  });

  it('labels per tenant only when the operator turns it on', async () => {
    const metrics = new PrometheusMetrics({ perTenant: true, scrapeCacheMs: 0 }, sources());
    metrics.reportFinished('acme', 'failed');
    metrics.fileStage({ tenantId: 'bolt', rows: 10, seconds: 0.5 });
    const text = await metrics.scrape();
    expect(text).toContain('conflux_reports_finished_total{status="failed",tenant="acme"} 1');
    expect(text).toContain('conflux_file_stage_rows_total{tenant="bolt"} 10');
    expect(text).toContain('conflux_scheduled_work{state="due",tenant="bolt"} 3');
    expect(text).toContain('conflux_subscription_lag_events{consumer="reports",tenant="acme"} 5');
    expect(text).toContain('conflux_subscription_lag_events{consumer="scheduled-work"} 4');
  });

  it('leaves out the series whose read failed, and still answers the others', async () => {
    const metrics = new PrometheusMetrics(
      { perTenant: false, scrapeCacheMs: 0 },
      sources({ scheduledWork: () => Promise.reject(new Error('control database down')) }),
    );
    const text = await metrics.scrape();
    expect(lines(text, 'conflux_scheduled_work')).toEqual([]);
    expect(lines(text, 'conflux_subscription_lag_events')).toHaveLength(2);
  });

  it('reads the database at most once per cache period, however many scrapes', async () => {
    let reads = 0;
    const metrics = new PrometheusMetrics(
      { perTenant: false, scrapeCacheMs: 60_000 },
      sources({
        scheduledWork: async () => {
          reads += 1;
          return [];
        },
      }),
    );
    await Promise.all([metrics.scrape(), metrics.scrape()]);
    await metrics.scrape();
    expect(reads).toBe(1);
  });
});
