import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import type { EventMetadata, NewEvent } from '../src/application/ports/event-store.port.js';
import { REPORT_CATEGORY, parseReportStream, reportStream } from '../src/application/report/report-stream.js';
import { PROVIDER_NAMES } from '../src/domain/report/provider-data.js';
import type { ReportCommand } from '../src/domain/report/report.commands.js';
import { type Report, reportDecider } from '../src/domain/report/report.decider.js';
import { readReportEvent } from '../src/application/report/report-event-codec.js';
import { PostgresEventStore } from '../src/infrastructure/event-store/postgres-event-store.js';
import { benchTenantId, cpuSeconds, postgresCpuSeconds, withConfluxCluster } from './conflux-cluster.js';
import { median, spread, type Benchmark, type BenchContext, type Figure } from './support.js';

/**
 * `projection.replay.rate`: how fast the reports read model of a tenant database catches up with a
 * backlog. With Conflux stopped, the bench appends the events of `PROJECTION_REPLAY_REPORTS` finished
 * reports (15 events each, made by the real decider from the commands a real run sends: request, three
 * submits, two polls per provider, three results, generation, ready) for one tenant whose read model is
 * empty. Then Conflux starts and the bench watches `projection_checkpoints` in the tenant database every
 * 20 ms: the rate is the events applied between the first and the last observation, divided by the time
 * between them (start-up excluded). The scheduled-work projection is told the backlog is already
 * handled (its checkpoint is set to the end of the log), so only the read model replays, as in a rebuild.
 */
const REPORTS = Number(process.env.PROJECTION_REPLAY_REPORTS ?? 2000);
const RUNS = Number(process.env.PROJECTION_REPLAY_RUNS ?? 3);
const WRITERS = 8;

/** The events of one report that went all the way to ready, as the decider emits them. */
const reportEvents = (tenantId: string, reportId: string, requestedBy: string, at: number): NewEvent[] => {
  const t = (ms: number) => new Date(at + ms).toISOString();
  const commands: ReportCommand[] = [
    {
      type: 'RequestReport',
      data: {
        reportId,
        tenantId,
        requestedBy,
        subject: { taxId: `REPLAY-${reportId.slice(0, 8)}` },
        period: { from: '2025-01-01', to: '2025-12-31' },
        requestedAt: t(0),
      },
    },
  ];
  for (const provider of PROVIDER_NAMES)
    commands.push(
      {
        type: 'RecordProviderJob',
        data: { reportId, provider, jobId: `job-${provider}`, submittedAt: t(20) },
      },
      {
        type: 'SchedulePoll',
        data: { reportId, provider, attempt: 1, dueAt: t(520), scheduledAt: t(20), reason: 'submitted' },
      },
    );
  for (const provider of PROVIDER_NAMES)
    commands.push({
      type: 'SchedulePoll',
      data: { reportId, provider, attempt: 2, dueAt: t(3030), scheduledAt: t(530), reason: 'processing' },
    });
  for (const provider of PROVIDER_NAMES)
    commands.push({
      type: 'RecordProviderResult',
      data: {
        reportId,
        provider,
        result: {
          key: `tenants/${tenantId}/reports/${reportId}/raw/${provider}.ndjson`,
          rows: provider === 'bank-transactions' ? 1000 : 1,
          bytes: 180_000,
          sha256: 'a'.repeat(64),
        },
        recordedAt: t(3100),
      },
    });
  commands.push(
    { type: 'StartGeneration', data: { reportId, startedAt: t(3150) } },
    {
      type: 'CompleteReport',
      data: {
        reportId,
        completedAt: t(3200),
        files: [
          {
            name: 'transactions.csv',
            contentType: 'text/csv',
            key: `tenants/${tenantId}/reports/${reportId}/transactions.csv`,
            rows: 1000,
            bytes: 150_000,
            sha256: 'b'.repeat(64),
          },
          {
            name: 'summary.json',
            contentType: 'application/json',
            key: `tenants/${tenantId}/reports/${reportId}/summary.json`,
            bytes: 2_000,
            sha256: 'c'.repeat(64),
          },
          {
            name: 'summary.pdf',
            contentType: 'application/pdf',
            key: `tenants/${tenantId}/reports/${reportId}/summary.pdf`,
            bytes: 30_000,
            sha256: 'd'.repeat(64),
          },
        ],
      },
    },
  );
  const metadata: EventMetadata = { tenantId, correlationId: reportId, userId: requestedBy };
  let state: Report = reportDecider.initialState();
  const events: NewEvent[] = [];
  for (const command of commands)
    for (const event of reportDecider.decide(command, state)) {
      state = reportDecider.evolve(state, event);
      events.push({ type: event.type, data: event.data, metadata });
    }
  if (state.status !== 'ready') throw new Error(`synthetic report ended ${state.status}`);
  return events;
};

/** Appends the backlog (one append per report, `WRITERS` at once); returns the events in commit order. */
const appendBacklog = async (
  databaseUrl: string,
  tenantId: string,
  reports = REPORTS,
): Promise<Map<string, number>> => {
  const store = await PostgresEventStore.create(databaseUrl, { migrate: false, notify: false });
  try {
    const start = Date.now() - 86_400_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        for (let i = next++; i < reports; i = next++) {
          const reportId = randomUUID();
          await store.appendToStream(
            reportStream(tenantId, reportId),
            reportEvents(tenantId, reportId, 'replay-user', start + i * 1000),
            { expectedRevision: 'no_stream' },
          );
        }
      }),
    );
  } finally {
    await store.close();
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ checkpoint: string }>(
      `SELECT transaction_id::text || ':' || position::text AS checkpoint FROM events
       WHERE tenant_id = $1 ORDER BY transaction_id, position`,
      [tenantId],
    );
    // Only the read model replays: the process manager's projection starts after the backlog.
    await client.query(
      `INSERT INTO subscription_checkpoints (name, checkpoint) VALUES ('scheduled-work', $1)
       ON CONFLICT (name) DO UPDATE SET checkpoint = EXCLUDED.checkpoint`,
      [rows.at(-1)!.checkpoint],
    );
    return new Map(rows.map((r, i) => [r.checkpoint, i + 1]));
  } finally {
    await client.end();
  }
};

type Sample = Readonly<{ at: number; applied: number }>;

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/**
 * Not Conflux code: a sketch of the fix proposed in bench/RESULTS.md, measured on the same events and
 * tenant database. It applies the read model a page (1,000 events) per transaction instead of one event
 * per transaction through MikroORM: one `SELECT … FOR UPDATE` of the page's reports, `evolve` in memory
 * with the rules of `projectReportEvent` (create on ReportRequested, skip revisions already applied), one
 * multi-row upsert, one checkpoint write. Returns events/s and a digest of the resulting rows.
 */
const batchedReplaySketch = async (databaseUrl: string, tenantDatabaseUrl: string, tenantId: string) => {
  const store = await PostgresEventStore.create(databaseUrl, { migrate: false, notify: false });
  const db = new pg.Client({ connectionString: tenantDatabaseUrl });
  await db.connect();
  try {
    type View = { id: string; requested_by: string; status: string; version: number; state: Report };
    type Row = View & { created_at: string; updated_at: string };
    const started = performance.now();
    let after: Awaited<ReturnType<typeof store.readAll>>[number]['checkpoint'] | undefined;
    let events = 0;
    for (;;) {
      const page = await store.readAll({
        ...(after ? { after } : {}),
        filter: { categories: [REPORT_CATEGORY], tenantId },
        maxCount: 1000,
      });
      if (page.length === 0) break;
      const ids = [...new Set(page.map((e) => parseReportStream(e.streamName)?.reportId).filter(Boolean))];
      await db.query('BEGIN');
      const { rows } = await db.query<View>(
        'SELECT id, requested_by, status, version, state FROM reports WHERE id = ANY($1::text[]) FOR UPDATE',
        [ids],
      );
      const views = new Map(rows.map((r) => [r.id, r]));
      const changed = new Map<string, Row>();
      for (const recorded of page) {
        const stream = parseReportStream(recorded.streamName);
        if (!stream) continue;
        const event = readReportEvent(recorded);
        const view = views.get(stream.reportId);
        const at = new Date(recorded.createdAt).toISOString();
        if (!view) {
          if (event.type !== 'ReportRequested') continue;
          const state = reportDecider.evolve(reportDecider.initialState(), event);
          const row: Row = {
            id: stream.reportId,
            requested_by: state.requestedBy,
            status: state.status,
            version: recorded.revision,
            state,
            created_at: state.requestedAt,
            updated_at: at,
          };
          views.set(row.id, row);
          changed.set(row.id, row);
        } else if (recorded.revision > view.version) {
          const state = reportDecider.evolve(view.state, event);
          const row: Row = {
            ...(changed.get(view.id) ?? { ...view, created_at: state.requestedAt, updated_at: at }),
            status: state.status,
            version: recorded.revision,
            state,
            updated_at: at,
          };
          views.set(row.id, row);
          changed.set(row.id, row);
        }
      }
      if (changed.size > 0)
        await db.query(
          `INSERT INTO reports (id, requested_by, status, version, state, created_at, updated_at)
           SELECT id, requested_by, status, version, state, created_at, updated_at
           FROM jsonb_to_recordset($1::jsonb) AS r(id text, requested_by text, status text, version integer,
                state jsonb, created_at timestamptz, updated_at timestamptz)
           ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version,
                state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
           WHERE reports.version < EXCLUDED.version`,
          [JSON.stringify([...changed.values()])],
        );
      after = page.at(-1)!.checkpoint;
      await db.query(
        `INSERT INTO projection_checkpoints (name, checkpoint, updated_at) VALUES ('reports', $1, now())
         ON CONFLICT (name) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = EXCLUDED.updated_at`,
        [after],
      );
      await db.query('COMMIT');
      events += page.length;
    }
    const seconds = (performance.now() - started) / 1000;
    return { rate: Math.round(events / seconds), events, digest: await readModelDigest(db) };
  } finally {
    await db.end();
    await store.close();
  }
};

/** What the read model holds, independent of row order and of `updated_at` wall-clock columns. */
const readModelDigest = async (db: pg.Client): Promise<string> => {
  const { rows } = await db.query<{ digest: string }>(
    `SELECT md5(string_agg(id || ':' || status || ':' || version || ':' || requested_by || ':' || state::text, ','
                ORDER BY id)) AS digest FROM reports`,
  );
  return rows[0].digest;
};

const replayRun = async (ctx: BenchContext) =>
  withConfluxCluster(ctx, { simulator: { transactions: 1000, latencyMs: 3000 } }, async (cluster) => {
    const tenantId = benchTenantId('br');
    await cluster.createTenant(tenantId);
    await cluster.stopConflux();
    const order = await appendBacklog(cluster.databaseUrl, tenantId);
    const total = order.size;

    const tenantDb = new pg.Client({ connectionString: cluster.tenantDatabaseUrl(tenantId) });
    await tenantDb.connect();
    try {
      const applied = async (): Promise<number> => {
        const { rows } = await tenantDb.query<{ checkpoint: string }>(
          "SELECT checkpoint FROM projection_checkpoints WHERE name = 'reports'",
        );
        return rows[0] ? (order.get(rows[0].checkpoint) ?? NaN) : 0;
      };
      if ((await applied()) !== 0) throw new Error('the read model is not empty before the replay');
      const loadBefore = Math.round(loadavg()[0] * 10) / 10;
      const spawned = performance.now();
      const samples: Sample[] = [];
      // CPU is counted from "listening" (the first moment the bench knows the new process id) to the end.
      let atListen: { at: number; applied: number; cpu: number; pg: number } | undefined;
      const starting = cluster.startConflux().then(async (conflux) => {
        const at = performance.now();
        atListen = {
          at,
          applied: samples.at(-1)?.applied ?? 0,
          cpu: await cpuSeconds(conflux.child.pid),
          pg: await postgresCpuSeconds(),
        };
      });
      starting.catch(() => undefined);
      const deadline = spawned + 30_000 + total * 5; // ≥ 200 events/s or give up
      while (performance.now() < deadline) {
        const count = await applied();
        if (count > 0) {
          samples.push({ at: performance.now(), applied: count });
          if (count >= total) break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await starting;
      const cpu = (await cpuSeconds(cluster.conflux().child.pid)) - atListen!.cpu;
      const pgCpu = (await postgresCpuSeconds()) - atListen!.pg;
      const first = samples[0];
      const last = samples.at(-1);
      if (!first || !last || last.applied < total)
        throw new Error(
          `the read model caught up ${last?.applied ?? 0} of ${total} events before the deadline`,
        );
      const seconds = (last.at - first.at) / 1000;
      const events = last.applied - first.applied;
      const rows = await tenantDb.query<{ ready: string }>(
        "SELECT count(*) FILTER (WHERE status = 'ready')::text AS ready FROM reports",
      );
      await cluster.stopConflux();
      const confluxDigest = await readModelDigest(tenantDb);
      await tenantDb.query('TRUNCATE reports; DELETE FROM projection_checkpoints');
      const sketch = await batchedReplaySketch(
        cluster.databaseUrl,
        cluster.tenantDatabaseUrl(tenantId),
        tenantId,
      );
      return {
        rate: Math.round(events / seconds),
        events: total,
        reportsReady: Number(rows.rows[0].ready),
        catchUpMs: Math.round(last.at - spawned),
        listeningMs: Math.round(atListen!.at - spawned),
        appliedBeforeListening: atListen!.applied,
        confluxCpuMsPerEvent: round3((cpu * 1000) / (last.applied - atListen!.applied)),
        postgresCpuMsPerEvent: round3((pgCpu * 1000) / (last.applied - atListen!.applied)),
        confluxCpuPercent: Math.round((cpu * 100_000) / (last.at - atListen!.at)),
        postgresCpuPercent: Math.round((pgCpu * 100_000) / (last.at - atListen!.at)),
        load1: loadBefore,
        batchedSketchRate: sketch.rate,
        batchedSketchSameRows: sketch.digest === confluxDigest && sketch.events === total,
      };
    } finally {
      await tenantDb.end();
    }
  });

const replay = async (ctx: BenchContext): Promise<Figure[]> => {
  const runs: Awaited<ReturnType<typeof replayRun>>[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await replayRun(ctx));
  return [
    {
      name: 'projection.replay.rate',
      value: median(runs.map((r) => r.rate)),
      spread: spread(runs.map((r) => r.rate)),
      unit: 'events/s',
      events: runs[0].events,
      reports: REPORTS,
      measuredBy:
        'tenant projection_checkpoints polled every 20 ms after Conflux starts on an empty read model',
      runs,
      target: '≥ 20000 events/s (rebuild into tenant read models)',
    },
    {
      name: 'projection.replay.batched_sketch.rate',
      value: median(runs.map((r) => r.batchedSketchRate)),
      unit: 'events/s',
      events: runs[0].events,
      sameRowsAsConflux: runs.every((r) => r.batchedSketchSameRows),
      measuredBy:
        'bench-only sketch of the proposed fix (1,000 events per transaction, raw SQL), same events and database',
      runs: runs.map((r) => r.batchedSketchRate),
    },
  ];
};

const REBUILD_TENANTS = 10;
const REBUILD_EVENTS = Number(process.env.PROJECTION_REBUILD_EVENTS ?? 100_000);

/**
 * `projection.rebuild.rate`: events/s into fresh read models while the live ones keep serving (issue 11).
 * `REBUILD_EVENTS` events of finished reports over 10 tenants are appended with Conflux stopped; Conflux
 * starts, its live read models catch up, then the operator API starts a rebuild of every tenant at once
 * while a reader pages through one tenant's reports without pause. The rate is all events applied by the
 * rebuilds over the time from the first start to the last switch (the rebuild resources' own timestamps).
 */
const rebuildRun = (ctx: BenchContext) =>
  withConfluxCluster(ctx, { simulator: { transactions: 1000, latencyMs: 3000 } }, async (cluster) => {
    const tenants = Array.from({ length: REBUILD_TENANTS }, () => benchTenantId('rb'));
    const tokens = new Map<string, string>();
    for (const tenantId of tenants) tokens.set(tenantId, await cluster.createTenant(tenantId));
    await cluster.stopConflux();
    const perTenant = Math.ceil(REBUILD_EVENTS / REBUILD_TENANTS / 15);
    const totals = new Map<string, number>();
    for (const tenantId of tenants)
      totals.set(tenantId, (await appendBacklog(cluster.databaseUrl, tenantId, perTenant)).size);
    await cluster.startConflux();
    const operator = (method: string, path: string, body?: unknown) =>
      cluster.call(method, path, cluster.operatorToken, body);
    const caughtUp = async () =>
      ((await operator('GET', '/v1/admin/projections')).body.data as { tenantId: string; lag: number }[])
        .filter((p) => tokens.has(p.tenantId))
        .every((p) => p.lag === 0);
    const deadline = Date.now() + 300_000;
    while (!(await caughtUp())) {
      if (Date.now() > deadline) throw new Error('live read models did not catch up in 5 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const loadBefore = Math.round(loadavg()[0] * 10) / 10;
    const started = await Promise.all(
      tenants.map(async (tenantId) => {
        const response = await operator('POST', '/v1/admin/projections/reports/rebuild', { tenantId });
        if (response.status !== 202) throw new Error(`rebuild of ${tenantId}: ${response.status}`);
        return response.body.id as string;
      }),
    );
    // A reader of the first tenant pages through its reports while the rebuilds run.
    const reader = tokens.get(tenants[0])!;
    let reads = 0;
    let failedReads = 0;
    let rebuilds: { status: string; eventsApplied: number; startedAt: string; finishedAt: string }[];
    do {
      const page = await cluster.call('GET', '/v1/reports?limit=100', reader);
      reads++;
      if (page.status !== 200 || page.body.data.length === 0) failedReads++;
      rebuilds = await Promise.all(
        started.map(
          async (id) => (await operator('GET', `/v1/admin/projections/reports/rebuilds/${id}`)).body,
        ),
      );
    } while (rebuilds.some((r) => r.status === 'running'));
    const failed = rebuilds.filter((r) => r.status !== 'completed');
    if (failed.length > 0) throw new Error(`rebuilds failed: ${JSON.stringify(failed)}`);
    const first = Math.min(...rebuilds.map((r) => Date.parse(r.startedAt)));
    const last = Math.max(...rebuilds.map((r) => Date.parse(r.finishedAt)));
    const events = rebuilds.reduce((n, r) => n + r.eventsApplied, 0);
    const expected = [...totals.values()].reduce((n, v) => n + v, 0);
    return {
      rate: Math.round(events / ((last - first) / 1000)),
      events,
      allEventsApplied: events === expected,
      seconds: (last - first) / 1000,
      readsDuringRebuild: reads,
      failedReads,
      load1: loadBefore,
    };
  });

const rebuild = async (ctx: BenchContext): Promise<Figure[]> => {
  const runs: Awaited<ReturnType<typeof rebuildRun>>[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await rebuildRun(ctx));
  return [
    {
      name: 'projection.rebuild.rate',
      value: median(runs.map((r) => r.rate)),
      spread: spread(runs.map((r) => r.rate)),
      unit: 'events/s',
      events: runs[0].events,
      tenants: REBUILD_TENANTS,
      measuredBy:
        'POST /v1/admin/projections/reports/rebuild for every tenant at once; a reader pages meanwhile',
      runs,
      target: '≥ 20000 events/s into fresh read models while the live ones keep serving',
    },
  ];
};

export const benchmarks: Benchmark[] = [
  {
    name: 'projection.replay',
    figures: ['projection.replay.rate', 'projection.replay.batched_sketch.rate'],
    run: replay,
  },
  { name: 'projection.rebuild', figures: ['projection.rebuild.rate'], run: rebuild },
];
