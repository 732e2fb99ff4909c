import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';
import {
  benchTenantId,
  cpuSeconds,
  databaseTransactions,
  percentile,
  postgresCpuSeconds,
  sampleProcessManager,
  withConfluxCluster,
  type ProcessManagerSamples,
  type ConfluxCluster,
} from './conflux-cluster.js';
import type { LoadPlan, LoadResult } from './load-generator.js';
import { SEED_POLL_INTERVAL_MS, seedScheduleReport } from './seed-schedule.js';
import { median, spread, type Benchmark, type BenchContext, type Figure } from './support.js';

const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const round1 = (v: number) => Math.round(v * 10) / 10;
const load1 = () => round1(loadavg()[0]);

/** `http.post_reports`: POST /v1/reports at a fixed open-loop rate from a separate load-generator process. */
const LOAD = {
  runs: num('REPORT_LOAD_RUNS', 3),
  rate: num('REPORT_LOAD_RATE', 200),
  durationMs: num('REPORT_LOAD_SECONDS', 30) * 1000,
  warmupMs: num('REPORT_LOAD_WARMUP_SECONDS', 5) * 1000,
  tenants: 4,
  membersPerTenant: 5,
  /**
   * Every accepted report submits three provider jobs and polls each 0.5 s later; the simulator then
   * answers "processing, retry after (latency − 0.5 s)", capped at POLL_BACKOFF_CAP_MS (30 s), so with a
   * 10-minute latency no report polls again or completes within the measured 30 s.
   */
  simLatencyMs: num('REPORT_LOAD_SIM_LATENCY_MS', 600_000),
  /** WORKER_CONCURRENCY of Conflux: unset = its default (16). */
  workerConcurrency: process.env.REPORT_LOAD_WORKER_CONCURRENCY,
};

/**
 * Holds the background back for a diagnostic run: an open transaction with an xid makes every event
 * appended after it invisible to log readers (they read below the snapshot xmin), so the projections,
 * the process manager and its provider calls see nothing until it ends. The POST path (JWT, user,
 * Idempotency-Key, stream read, append, notify) runs unchanged; subscribers still wake and read on every
 * notification.
 */
const holdLogReaders = async (databaseUrl: string): Promise<() => Promise<void>> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_current_xact_id()');
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
  };
};

/** Runs the load generator as its own process and returns its one JSON line. */
const runLoadGenerator = (plan: LoadPlan): Promise<LoadResult> =>
  new Promise((done, fail) => {
    const child = spawn(process.execPath, [resolve('dist/bench/load-generator.js')], {
      env: { PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // Bounded even if the generator itself hangs.
    const limit = setTimeout(
      () => child.kill('SIGKILL'),
      plan.warmupMs + plan.durationMs + plan.timeoutMs + 30_000,
    );
    child.on('error', fail);
    child.on('exit', (code) => {
      clearTimeout(limit);
      if (code !== 0) return fail(new Error(`load generator exited with ${code}: ${out}`));
      try {
        done(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult);
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
    child.stdin.end(JSON.stringify(plan));
  });

/**
 * Scheduled work that was due more than a second ago and is not leased: how far the worker lags behind
 * (`total`: rows of unfinished reports; a final report's retention row is not work in progress).
 */
const workerBacklog = async (databaseUrl: string) => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ overdue: string; total: string }>(
      `SELECT count(*) FILTER (WHERE due_at < now() - interval '1 second' AND lease_owner IS NULL)::text AS overdue,
              count(*) FILTER (WHERE step <> 'retention')::text AS total FROM scheduled_work`,
    );
    const events = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    return {
      overdue: Number(rows[0].overdue),
      total: Number(rows[0].total),
      events: Number(events.rows[0].n),
    };
  } finally {
    await client.end();
  }
};

const postReportsRun = async (ctx: BenchContext, run: number, holdBackground: boolean) =>
  withConfluxCluster(
    ctx,
    {
      simulator: { transactions: 1000, latencyMs: LOAD.simLatencyMs },
      confluxEnv: LOAD.workerConcurrency ? { WORKER_CONCURRENCY: LOAD.workerConcurrency } : {},
    },
    async (cluster) => {
      const tokens: string[] = [];
      for (let t = 0; t < LOAD.tenants; t++) {
        const tenantId = benchTenantId('bl');
        const admin = await cluster.createTenant(tenantId);
        for (let u = 0; u < LOAD.membersPerTenant; u++)
          tokens.push(await cluster.addMember(tenantId, admin, `member${u}`, `LOAD-${t}-${u}`));
      }
      // Interleave tenants, so consecutive requests hit different tenant databases.
      const interleaved = tokens.map(
        (_, i) => tokens[(i % LOAD.tenants) * LOAD.membersPerTenant + Math.floor(i / LOAD.tenants)],
      );
      const pid = cluster.conflux().child.pid;
      const cpuBefore = await cpuSeconds(pid);
      const pgBefore = await postgresCpuSeconds();
      const loadBefore = load1();
      const release = holdBackground ? await holdLogReaders(cluster.databaseUrl) : undefined;
      const stopSampling = sampleProcessManager(cluster.databaseUrl, 500);
      const result = await runLoadGenerator({
        base: cluster.base(),
        path: '/v1/reports',
        ratePerSecond: LOAD.rate,
        durationMs: LOAD.durationMs,
        warmupMs: LOAD.warmupMs,
        timeoutMs: 10_000,
        maxSockets: 64,
        tokens: interleaved,
        body: '{}',
        keyPrefix: `load-${run}-${randomBytes(4).toString('hex')}`,
        okStatus: 202,
      }).finally(() => release?.());
      const cpu = (await cpuSeconds(pid)) - cpuBefore;
      const pgCpu = (await postgresCpuSeconds()) - pgBefore;
      const processManager = await stopSampling();
      const backlog = await workerBacklog(cluster.databaseUrl);
      const at = (p: number) => round1(percentile(result.latenciesMs, p));
      return {
        p50: at(50),
        p90: at(90),
        p99: at(99),
        max: round1(result.latenciesMs.at(-1) ?? NaN),
        serviceP99: round1(percentile(result.serviceMs, 99)),
        rate: result.achievedRatePerSecond,
        errors: result.errors,
        statuses: result.statuses,
        sendLagP99Ms: result.sendLagP99Ms,
        p99By5s: result.p99By5s,
        confluxCpuPercent: Math.round((cpu * 100_000) / result.elapsedMs),
        postgresCpuPercent: Math.round((pgCpu * 100_000) / result.elapsedMs),
        backlog,
        processManager,
        load1: [loadBefore, load1()],
      };
    },
  );

const postReports = async (ctx: BenchContext, holdBackground: boolean): Promise<Figure[]> => {
  const runs: Awaited<ReturnType<typeof postReportsRun>>[] = [];
  for (let i = 0; i < LOAD.runs; i++) runs.push(await postReportsRun(ctx, i, holdBackground));
  const med = (pick: (r: (typeof runs)[number]) => number) => round1(median(runs.map(pick)));
  return [
    {
      name: holdBackground ? 'http.post_reports.background_held' : 'http.post_reports',
      value: med((r) => r.p99),
      unit: 'ms (p99)',
      spread: spread(runs.map((r) => r.p99)),
      p50Ms: med((r) => r.p50),
      p90Ms: med((r) => r.p90),
      p99Ms: med((r) => r.p99),
      maxMs: med((r) => r.max),
      achievedRatePerSecond: med((r) => r.rate),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
      offered: `${LOAD.rate} req/s for ${LOAD.durationMs / 1000} s after ${LOAD.warmupMs / 1000} s warm-up, open loop, keep-alive`,
      request: 'POST /v1/reports {} with JWT and a unique Idempotency-Key',
      users: `${LOAD.tenants} tenants × ${LOAD.membersPerTenant} members`,
      simLatencyMs: LOAD.simLatencyMs,
      workerConcurrency: LOAD.workerConcurrency ?? 'default (16)',
      runs,
      target: 'p99 ≤ 50 ms, no errors',
    },
  ];
};

/** `report.concurrent`: 100 reports over 5 tenants requested at once; each timed from POST to ready. */
const CONCURRENT = {
  runs: num('REPORT_CONCURRENT_RUNS', 3),
  reports: num('REPORT_CONCURRENT_REPORTS', 100),
  tenants: 5,
  simLatencyMs: 3000,
  transactions: 1000,
  timeoutMs: 60_000,
};

/** Reads the report's SSE stream until its final event; resolves with that event's name. */
const finalEvent = async (cluster: ConfluxCluster, token: string, id: string): Promise<string> => {
  const response = await fetch(`${cluster.base()}/v1/reports/${id}/events?access_token=${token}`, {
    signal: AbortSignal.timeout(CONCURRENT.timeoutMs),
  });
  if (response.status !== 200 || !response.body) throw new Error(`events of ${id}: ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (\w+)$/m.exec(message)?.[1];
      if (event === 'ready' || event === 'failed' || event === 'cancelled') return event;
    }
  }
  return 'closed';
};

type Timed = Readonly<{ ms: number; postMs: number; outcome: string; id?: string }>;

type ConcurrentRun = Readonly<{
  p50: number;
  p99: number;
  max: number;
  min: number;
  ready: number;
  notReady: string[];
  postP50: number;
  postMax: number;
  load1: number[];
  stagesMs: Record<string, number>;
  processManager: ProcessManagerSamples;
  confluxCpuPercent: number;
  postgresCpuPercent: number;
  /** Transactions in the control database (event store, scheduled work, tenants) during the run. */
  controlTransactions: number;
  /** The same number of reports on the seed's schedule, right after (seed-schedule.ts). */
  seed: Readonly<{ p50: number; p99: number; done: number }>;
}>;

const requestAndWait = async (
  cluster: ConfluxCluster,
  token: string,
  taxId: string,
  watch: 'sse' | 'log',
): Promise<Timed> => {
  const started = performance.now();
  const startedAt = Date.now();
  try {
    const posted = await cluster.call('POST', '/v1/reports', token, { subject: { taxId } });
    const postMs = performance.now() - started;
    if (posted.status !== 202) return { ms: NaN, postMs, outcome: `post ${posted.status}` };
    const id = posted.body.id as string;
    if (watch === 'log') {
      const readyAt = await readyInLog(cluster.databaseUrl, id);
      return readyAt === undefined
        ? { ms: NaN, postMs, outcome: 'timeout', id }
        : { ms: readyAt - startedAt, postMs, outcome: 'ready', id };
    }
    const outcome = await finalEvent(cluster, token, id);
    return { ms: performance.now() - started, postMs, outcome, id };
  } catch (error) {
    return { ms: NaN, postMs: NaN, outcome: String(error) };
  }
};

/** Waits (polling the log every 250 ms, one shared query) for a report's ReportReady; its commit-side time. */
const readyInLog = (() => {
  const waiting = new Map<string, (at: number | undefined) => void>();
  let poller: Promise<void> | undefined;
  const poll = async (databaseUrl: string) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const deadline = Date.now() + CONCURRENT.timeoutMs;
    try {
      while (waiting.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        const { rows } = await client.query<{ id: string; at: Date }>(
          `SELECT data->>'reportId' AS id, created_at AS at FROM events
           WHERE type = 'ReportReady' AND data->>'reportId' = ANY($1::text[])`,
          [[...waiting.keys()]],
        );
        for (const row of rows) {
          waiting.get(row.id)?.(row.at.getTime());
          waiting.delete(row.id);
        }
      }
    } finally {
      for (const done of waiting.values()) done(undefined);
      waiting.clear();
      await client.end();
      poller = undefined;
    }
  };
  return (databaseUrl: string, id: string) =>
    new Promise<number | undefined>((done) => {
      waiting.set(id, done);
      poller ??= poll(databaseUrl);
    });
})();

/**
 * Where a report's time goes, from the event log (created_at of each append): median over the run's
 * reports of each stage, in ms. Provider latency is 3,000 ms from submission, so `submitted→results`
 * cannot be below that.
 */
const stageBreakdown = async (databaseUrl: string, ids: readonly string[]) => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<Record<string, number>>(
      `WITH t AS (
         SELECT data->>'reportId' AS id,
                min(created_at) FILTER (WHERE type = 'ReportRequested') AS requested,
                min(created_at) FILTER (WHERE type = 'ProviderJobSubmitted') AS first_submitted,
                max(created_at) FILTER (WHERE type = 'ProviderJobSubmitted') AS last_submitted,
                max(created_at) FILTER (WHERE type = 'ProviderResultRecorded') AS last_result,
                min(created_at) FILTER (WHERE type = 'ReportGenerationStarted') AS generation,
                min(created_at) FILTER (WHERE type = 'ReportReady') AS ready,
                count(*) FILTER (WHERE type = 'ProviderPollScheduled') AS polls
         FROM events WHERE data->>'reportId' = ANY($1::text[]) GROUP BY 1)
       SELECT
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_submitted - requested) * 1000) AS "requested→first submit",
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM last_submitted - requested) * 1000) AS "requested→last submit",
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM last_result - last_submitted) * 1000) AS "last submit→last result",
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM generation - last_result) * 1000) AS "last result→generation",
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ready - generation) * 1000) AS "generation→ready",
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ready - requested) * 1000) AS "requested→ready",
         percentile_cont(0.5) WITHIN GROUP (ORDER BY polls) AS "poll events per report"
       FROM t`,
      [ids],
    );
    return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Math.round(Number(v))]));
  } finally {
    await client.end();
  }
};

/**
 * `watch`: `sse`, each report is watched over its SSE stream as a browser would (the figure); `log`,
 * nobody watches and the bench reads each report's ReportReady time from the event log (diagnostic: what
 * the watchers cost).
 */
const concurrentReports = async (ctx: BenchContext, watch: 'sse' | 'log'): Promise<Figure[]> =>
  withConfluxCluster(
    ctx,
    { simulator: { transactions: CONCURRENT.transactions, latencyMs: CONCURRENT.simLatencyMs } },
    async (cluster) => {
      const admins: string[] = [];
      for (let t = 0; t < CONCURRENT.tenants; t++)
        admins.push(await cluster.createTenant(benchTenantId('bc')));
      // Warm-up: one report per tenant (tenant databases open, JIT warm), not counted.
      await Promise.all(admins.map((token, t) => requestAndWait(cluster, token, `WARM-${t}`, watch)));

      const runs: ConcurrentRun[] = [];
      for (let run = 0; run < CONCURRENT.runs; run++) {
        const loadBefore = load1();
        const transactionsBefore = await databaseTransactions(cluster.databaseUrl);
        const stopSampling = sampleProcessManager(cluster.databaseUrl);
        const pid = cluster.conflux().child.pid;
        const [cpuBefore, pgBefore, wallBefore] = [
          await cpuSeconds(pid),
          await postgresCpuSeconds(),
          performance.now(),
        ];
        const results = await Promise.all(
          Array.from({ length: CONCURRENT.reports }, (_, i) =>
            requestAndWait(cluster, admins[i % CONCURRENT.tenants], `CONC-${run}-${i}`, watch),
          ),
        );
        const wall = (performance.now() - wallBefore) / 1000;
        const confluxCpuPercent = Math.round((((await cpuSeconds(pid)) - cpuBefore) * 100) / wall);
        const postgresCpuPercent = Math.round((((await postgresCpuSeconds()) - pgBefore) * 100) / wall);
        const processManager = await stopSampling();
        await new Promise((r) => setTimeout(r, 1500)); // statistics are published up to 1 s late
        const controlTransactions = (await databaseTransactions(cluster.databaseUrl)) - transactionsBefore;
        const ready = results.filter((r) => r.outcome === 'ready').map((r) => r.ms);
        const other = results.filter((r) => r.outcome !== 'ready').map((r) => r.outcome);
        const stagesMs = await stageBreakdown(
          cluster.databaseUrl,
          results.flatMap((r) => (r.id ? [r.id] : [])),
        );
        // The peer, in the same run on the same simulator: the same reports on the seed's schedule.
        const seedTimes = (
          await Promise.all(
            Array.from({ length: CONCURRENT.reports }, (_, i) =>
              seedScheduleReport(cluster.simulator, `SEED-${run}-${i}`, CONCURRENT.timeoutMs).catch(
                () => NaN,
              ),
            ),
          )
        ).filter((ms) => !Number.isNaN(ms));
        runs.push({
          p50: Math.round(percentile(ready, 50)),
          p99: Math.round(percentile(ready, 99)),
          max: Math.round(Math.max(...ready)),
          min: Math.round(Math.min(...ready)),
          ready: ready.length,
          notReady: other.slice(0, 5),
          postP50: Math.round(
            percentile(
              results.map((r) => r.postMs),
              50,
            ),
          ),
          postMax: Math.round(Math.max(...results.map((r) => r.postMs))),
          load1: [loadBefore, load1()],
          confluxCpuPercent,
          postgresCpuPercent,
          controlTransactions,
          processManager,
          stagesMs,
          seed: {
            p50: Math.round(percentile(seedTimes, 50)),
            p99: Math.round(percentile(seedTimes, 99)),
            done: seedTimes.length,
          },
        });
      }
      const med = (pick: (r: (typeof runs)[number]) => number) => Math.round(median(runs.map(pick)));
      return [
        {
          name: watch === 'sse' ? 'report.concurrent' : 'report.concurrent.unwatched',
          value: med((r) => r.p50),
          unit: 'ms (p50)',
          spread: spread(runs.map((r) => r.p50)),
          p50Ms: med((r) => r.p50),
          p99Ms: med((r) => r.p99),
          maxMs: med((r) => r.max),
          allReady: runs.every((r) => r.ready === CONCURRENT.reports),
          ready: runs.map((r) => `${r.ready}/${CONCURRENT.reports}`),
          reports: `${CONCURRENT.reports} at once over ${CONCURRENT.tenants} tenants (admins naming subjects)`,
          simLatencyMs: CONCURRENT.simLatencyMs,
          transactions: CONCURRENT.transactions,
          measuredBy:
            watch === 'sse'
              ? 'POST → final SSE event (GET /v1/reports/:id/events)'
              : 'POST → created_at of the ReportReady event (no client watching)',
          seedSchedule: {
            what: `the same ${CONCURRENT.reports} reports on the seed's schedule (submit, poll all every ${SEED_POLL_INTERVAL_MS / 1000} s, download), simulated after each run`,
            p50Ms: med((r) => r.seed.p50),
            p99Ms: med((r) => r.seed.p99),
            done: runs.map((r) => `${r.seed.done}/${CONCURRENT.reports}`),
          },
          // Per run, the seed's p50 over Conflux's: how many times sooner a report is ready; the median of those.
          seedP50Ratio: Math.round(median(runs.map((r) => r.seed.p50 / r.p50)) * 100) / 100,
          seedP99Ratio: Math.round(median(runs.map((r) => r.seed.p99 / r.p99)) * 100) / 100,
          runs,
          target: 'all ready; p50 ≤ 4500 ms, p99 ≤ 6000 ms',
        },
      ];
    },
  );

export const benchmarks: Benchmark[] = [
  { name: 'http.post_reports', figures: ['http.post_reports'], run: (ctx) => postReports(ctx, false) },
  // Diagnostic: the same load with the work each report causes held back until the load ends.
  {
    name: 'http.post_reports.background_held',
    figures: ['http.post_reports.background_held'],
    run: (ctx) => postReports(ctx, true),
  },
  { name: 'report.concurrent', figures: ['report.concurrent'], run: (ctx) => concurrentReports(ctx, 'sse') },
  // Diagnostic: the same reports with nobody watching.
  {
    name: 'report.concurrent.unwatched',
    figures: ['report.concurrent.unwatched'],
    run: (ctx) => concurrentReports(ctx, 'log'),
  },
];
