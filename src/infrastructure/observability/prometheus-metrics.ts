import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type {
  FinalStatus,
  Metrics,
  ProviderCallOutcome,
  ProviderOperation,
} from '../../application/ports/metrics.port.js';
import type { SubscriptionLag } from '../../application/shared/subscription-monitor.js';

/** Scheduled-work rows by state, per tenant (rows of no state are not listed). */
export type ScheduledWorkCount = Readonly<{
  tenantId: string;
  due: number;
  claimed: number;
  overdue: number;
}>;

/** What the scrape-time gauges read, each at most once per `scrapeCacheMs`. */
export type ScrapeSources = Readonly<{
  scheduledWork: () => Promise<readonly ScheduledWorkCount[]>;
  /** Per subscription name (`consumer` or `consumer:tenant`): the monitor's lag. */
  subscriptionLag: () => Promise<Readonly<Record<string, SubscriptionLag>>>;
  /** Parked events per subscription name. */
  parked: () => Promise<Readonly<Record<string, number>>>;
}>;

export type PrometheusOptions = Readonly<{
  /** METRICS_PER_TENANT: a `tenant` label on every per-report series (cardinality grows with tenants). */
  perTenant: boolean;
  /** How long a scrape-time read is reused (ms): scrapes from several Prometheus replicas cost one query. */
  scrapeCacheMs: number;
}>;

/** Seconds; from a fast poll to a slow result stream. */
const PROVIDER_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FILE_STAGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** `reports:acme` → consumer `reports`, tenant `acme`; `scheduled-work` → consumer only. */
const splitSubscription = (name: string): { consumer: string; tenant: string } => {
  const colon = name.indexOf(':');
  return colon < 0
    ? { consumer: name, tenant: '' }
    : { consumer: name.slice(0, colon), tenant: name.slice(colon + 1) };
};

/** Runs `read` at most once per `ttlMs`; concurrent callers share one read; a failure is not kept. */
const cached = <T>(ttlMs: number, read: () => Promise<T>): (() => Promise<T>) => {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= ttlMs) {
      const value = read();
      last = { at: now, value };
      value.catch(() => (last = undefined));
    }
    return last.value;
  };
};

/**
 * A scrape-time read that failed (e.g. the control database is down) leaves its series out of this scrape
 * instead of failing the whole scrape: the other series matter most exactly then.
 */
const unlessFailed = <T>(read: () => Promise<T>): Promise<T | undefined> => read().catch(() => undefined);

/**
 * Every Prometheus series of the process, in one registry of its own (not prom-client's global one: two
 * apps in one test process must not share series). Counters and histograms are updated as things happen;
 * scheduled work, subscriber lag and parked events are read when scraped. Series names: docs/operations.md.
 */
export class PrometheusMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly tenantLabel: string[];
  private readonly http: Histogram;
  private readonly finished: Counter;
  private readonly provider: Histogram;
  private readonly fileRows: Counter;
  private readonly fileSeconds: Histogram;

  constructor(
    private readonly options: PrometheusOptions,
    sources: ScrapeSources,
  ) {
    const registers = [this.registry];
    this.tenantLabel = options.perTenant ? ['tenant'] : [];
    collectDefaultMetrics({ register: this.registry });
    this.http = new Histogram({
      name: 'conflux_http_request_duration_seconds',
      help: 'HTTP requests by method, route template (never the raw URL) and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.finished = new Counter({
      name: 'conflux_reports_finished_total',
      help: 'Reports that reached a final status through an append of this process (sum over instances)',
      labelNames: ['status', ...this.tenantLabel],
      registers,
    });
    this.provider = new Histogram({
      name: 'conflux_provider_call_duration_seconds',
      help: 'Provider calls by provider, operation (submit, poll, fetch) and outcome',
      labelNames: ['provider', 'operation', 'outcome', ...this.tenantLabel],
      buckets: PROVIDER_BUCKETS,
      registers,
    });
    this.fileRows = new Counter({
      name: 'conflux_file_stage_rows_total',
      help: 'Transaction rows written by the file stage (rows/s: rate of this over rate of the duration sum)',
      labelNames: this.tenantLabel,
      registers,
    });
    this.fileSeconds = new Histogram({
      name: 'conflux_file_stage_duration_seconds',
      help: 'Duration of file stage runs that produced files',
      labelNames: this.tenantLabel,
      buckets: FILE_STAGE_BUCKETS,
      registers,
    });
    this.scrapeTimeGauges(sources, registers);
  }

  /** One HTTP request; `route` is the route template or `unmatched`. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.http.observe({ method, route, status: String(status) }, seconds);
  }

  providerCall(
    call: Readonly<{
      tenantId: string;
      provider: string;
      operation: ProviderOperation;
      outcome: ProviderCallOutcome;
      seconds: number;
    }>,
  ): void {
    const { provider, operation, outcome } = call;
    this.provider.observe({ provider, operation, outcome, ...this.tenant(call.tenantId) }, call.seconds);
  }

  fileStage(run: Readonly<{ tenantId: string; rows: number; seconds: number }>): void {
    this.fileRows.inc(this.tenant(run.tenantId), run.rows);
    this.fileSeconds.observe(this.tenant(run.tenantId), run.seconds);
  }

  reportFinished(tenantId: string, status: FinalStatus): void {
    this.finished.inc({ status, ...this.tenant(tenantId) });
  }

  /** The Prometheus text exposition of every series. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private tenant(tenantId: string): Record<string, string> {
    return this.options.perTenant ? { tenant: tenantId } : {};
  }

  private scrapeTimeGauges(sources: ScrapeSources, registers: Registry[]): void {
    const ttl = this.options.scrapeCacheMs;
    const scheduledWork = cached(ttl, sources.scheduledWork);
    const lag = cached(ttl, sources.subscriptionLag);
    const parked = cached(ttl, sources.parked);
    const perTenant = this.options.perTenant;
    new Gauge({
      name: 'conflux_scheduled_work',
      help: 'Scheduled work rows: due (waiting for a worker), claimed (leased), overdue (due for over a minute)',
      labelNames: ['state', ...this.tenantLabel],
      registers,
      async collect() {
        this.reset();
        const rows = await unlessFailed(scheduledWork);
        if (!rows) return;
        const totals = new Map<string, { due: number; claimed: number; overdue: number }>();
        for (const row of rows) {
          const key = perTenant ? row.tenantId : '';
          const total = totals.get(key) ?? { due: 0, claimed: 0, overdue: 0 };
          total.due += row.due;
          total.claimed += row.claimed;
          total.overdue += row.overdue;
          totals.set(key, total);
        }
        if (totals.size === 0) totals.set('', { due: 0, claimed: 0, overdue: 0 });
        for (const [tenant, total] of totals)
          for (const state of ['due', 'claimed', 'overdue'] as const)
            this.set({ state, ...(perTenant && tenant ? { tenant } : {}) }, total[state]);
      },
    });
    const perConsumer = <T>(
      entries: Record<string, T>,
      value: (entry: T) => number,
      combine: (a: number, b: number) => number,
    ): Map<string, { labels: Record<string, string>; value: number }> => {
      const out = new Map<string, { labels: Record<string, string>; value: number }>();
      for (const [name, entry] of Object.entries(entries)) {
        const { consumer, tenant } = splitSubscription(name);
        const labels: Record<string, string> = perTenant && tenant ? { consumer, tenant } : { consumer };
        const key = JSON.stringify(labels);
        const previous = out.get(key);
        out.set(key, { labels, value: previous ? combine(previous.value, value(entry)) : value(entry) });
      }
      return out;
    };
    const sum = (a: number, b: number) => a + b;
    new Gauge({
      name: 'conflux_subscription_lag_events',
      help: 'Events after a consumer checkpoint it has not applied (summed over tenants; capped at 1000 each)',
      labelNames: ['consumer', ...this.tenantLabel],
      registers,
      async collect() {
        this.reset();
        const read = await unlessFailed(lag);
        if (!read) return;
        const entries = perConsumer({ ...read }, (l) => l.behind, sum);
        for (const { labels, value } of entries.values()) this.set(labels, value);
      },
    });
    new Gauge({
      name: 'conflux_subscription_lag_seconds',
      help: 'Age of the oldest event a consumer has not applied (the worst over tenants), 0 when caught up',
      labelNames: ['consumer', ...this.tenantLabel],
      registers,
      async collect() {
        this.reset();
        const read = await unlessFailed(lag);
        if (!read) return;
        const entries = perConsumer({ ...read }, (l) => l.oldestPendingSeconds, Math.max);
        for (const { labels, value } of entries.values()) this.set(labels, value);
      },
    });
    new Gauge({
      name: 'conflux_parked_events',
      help: 'Events a consumer parked (could not apply) and moved past, all instances',
      labelNames: ['consumer', ...this.tenantLabel],
      registers,
      async collect() {
        this.reset();
        const [read, running] = await Promise.all([unlessFailed(parked), unlessFailed(lag)]);
        if (!read) return;
        // Every consumer running here shows, at 0 when it parked nothing: an alert needs the series.
        const zero = Object.fromEntries(Object.keys(running ?? {}).map((name) => [name, 0]));
        const entries = perConsumer({ ...zero, ...read }, (n) => n, sum);
        for (const { labels, value } of entries.values()) this.set(labels, value);
      },
    });
  }
}
