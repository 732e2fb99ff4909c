import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../src/infrastructure/postgres/embedded-postgres.js';
import { startNodeProcess, type NodeProcess } from '../test/support/node-process.js';
import type { BenchContext } from './support.js';

/**
 * Conflux as `npm start` runs it (dist/src/main.js) and the provider simulator
 * (dist/src/interfaces/cli/simulate-providers.js), each in its own process, on a fresh control database
 * of the bench cluster. Everything listens on 127.0.0.1. `BENCH_CPU_PROF_DIR` adds `--cpu-prof` to the
 * Conflux process (the profile is written when it exits after SIGTERM); `BENCH_CONFLUX_NODE_OPTIONS` adds
 * any other Node options (e.g. `--import` of a diagnostic hook).
 */
export type SimulatorSettings = Readonly<{ transactions: number; latencyMs: number }>;

export type ApiResponse = Readonly<{ status: number; body: any }>;

export type ConfluxCluster = Readonly<{
  /** `http://127.0.0.1:<port>` of the running Conflux. */
  base: () => string;
  /** The control database (event store, scheduled work, tenant registry). */
  databaseUrl: string;
  /** The database URL of a tenant created through `createTenant`. */
  tenantDatabaseUrl: (tenantId: string) => string;
  operatorToken: string;
  /** `http://127.0.0.1:<port>` of the provider simulator Conflux calls. */
  simulator: string;
  conflux: () => NodeProcess;
  /** Stops Conflux gracefully (SIGTERM). */
  stopConflux: () => Promise<void>;
  /** Starts Conflux again on the same databases and data directory. */
  startConflux: () => Promise<NodeProcess>;
  call: (method: string, path: string, token: string, body?: unknown) => Promise<ApiResponse>;
  /** Creates a tenant (its own database) with an admin; returns the admin's access token. */
  createTenant: (tenantId: string) => Promise<string>;
  /** Adds a member with its own tax id and logs it in; returns its access token. */
  addMember: (tenantId: string, adminToken: string, username: string, taxId: string) => Promise<string>;
}>;

export type ClusterOptions = Readonly<{
  simulator: SimulatorSettings;
  /** Extra environment of the Conflux process (WORKER_CONCURRENCY, …). */
  confluxEnv?: Readonly<Record<string, string>>;
}>;

const ADMIN_PASSWORD = 'bench-password';
const MEMBER_PASSWORD = 'bench-member-password';

/** A unique tenant id (`^[a-z][a-z0-9]{1,30}$`) starting with `prefix`. */
export const benchTenantId = (prefix: string): string => `${prefix}${randomBytes(4).toString('hex')}`;

const expectStatus = (response: ApiResponse, status: number, what: string): ApiResponse => {
  if (response.status !== status)
    throw new Error(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  return response;
};

export const withConfluxCluster = async <T>(
  ctx: BenchContext,
  options: ClusterOptions,
  work: (cluster: ConfluxCluster) => Promise<T>,
): Promise<T> => {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ctx.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const databaseUrl = withDatabase(ctx.databaseUrl, name);
  const tenants = new Set<string>();
  const dataDir = await mkdtemp(join(ctx.tmpDir, 'cluster-'));
  const operatorToken = randomBytes(24).toString('base64url');
  let simulator: NodeProcess | undefined;
  let conflux: NodeProcess | undefined;
  try {
    const simPort = await freePort();
    const port = await freePort();
    simulator = await startNodeProcess(
      'dist/src/interfaces/cli/simulate-providers.js',
      {
        PATH: process.env.PATH,
        SIM_PORT: String(simPort),
        SIM_TRANSACTIONS: String(options.simulator.transactions),
        SIM_LATENCY_MS: String(options.simulator.latencyMs),
      },
      'listening',
    );
    const sim = `http://127.0.0.1:${simPort}`;
    const profileDir = process.env.BENCH_CPU_PROF_DIR;
    const nodeOptions = process.env.BENCH_CONFLUX_NODE_OPTIONS;
    const confluxEnv = {
      PATH: process.env.PATH,
      LOG_LEVEL: 'warn',
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      OPERATOR_TOKEN: operatorToken,
      PROVIDER_BANK_URL: `${sim}/bank-transactions`,
      PROVIDER_CREDIT_URL: `${sim}/credit-bureau`,
      PROVIDER_TAX_URL: `${sim}/tax-authority`,
      ...(profileDir || nodeOptions
        ? {
            NODE_OPTIONS: [profileDir ? `--cpu-prof --cpu-prof-dir=${profileDir}` : '', nodeOptions ?? '']
              .join(' ')
              .trim(),
          }
        : {}),
      ...options.confluxEnv,
    };
    const startConflux = async () =>
      (conflux = await startNodeProcess('dist/src/main.js', confluxEnv, 'Conflux listening'));
    await startConflux();
    const base = `http://127.0.0.1:${port}`;

    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };
    const login = async (tenantId: string, username: string, password: string): Promise<string> =>
      expectStatus(await call('POST', '/v1/auth/login', '', { tenantId, username, password }), 200, 'login')
        .body.accessToken as string;

    return await work({
      base: () => base,
      databaseUrl,
      simulator: sim,
      tenantDatabaseUrl: (tenantId) => withDatabase(ctx.databaseUrl, `conflux_tenant_${tenantId}`),
      operatorToken,
      conflux: () => conflux!,
      stopConflux: async () => conflux?.kill('SIGTERM'),
      startConflux,
      call,
      createTenant: async (tenantId) => {
        tenants.add(tenantId);
        expectStatus(
          await call('POST', '/v1/tenants', operatorToken, {
            id: tenantId,
            name: `Bench ${tenantId}`,
            admin: { username: 'bench', password: ADMIN_PASSWORD },
          }),
          201,
          'create tenant',
        );
        return login(tenantId, 'bench', ADMIN_PASSWORD);
      },
      addMember: async (tenantId, adminToken, username, taxId) => {
        expectStatus(
          await call('POST', '/v1/users', adminToken, {
            username,
            password: MEMBER_PASSWORD,
            taxId,
            role: 'member',
          }),
          201,
          'create user',
        );
        return login(tenantId, username, MEMBER_PASSWORD);
      },
    });
  } finally {
    await conflux?.kill('SIGTERM');
    await simulator?.kill('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    for (const tenantId of tenants)
      await admin.query(`DROP DATABASE IF EXISTS "conflux_tenant_${tenantId}" WITH (FORCE)`);
    await admin.end();
  }
};

const withDatabase = (url: string, database: string): string => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/** Nearest-rank percentile of `values` (0 < p ≤ 100). */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};

/** utime + stime of a /proc/<pid>/stat line, in seconds (clock ticks of 1/100 s on Linux). */
const statCpuSeconds = (stat: string): number => {
  // utime and stime are fields 14 and 15 of proc_pid_stat(5); this split starts at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export const cpuSeconds = async (pid: number | undefined): Promise<number> => {
  if (pid === undefined) return NaN;
  try {
    return statCpuSeconds(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
};

/**
 * CPU seconds used so far by the PostgreSQL server processes alive now (the bench cluster is local; a
 * backend that exits takes its share with it): with `cpuSeconds` of Conflux, tells whether a run waits
 * on the database or on Node.
 */
export const postgresCpuSeconds = async (): Promise<number> => {
  let total = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes('(postgres)')) total += statCpuSeconds(stat);
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
};

export type ProcessManagerSamples = Readonly<{
  /** Events in the log not yet applied by the scheduled-work subscription (max over the samples). */
  maxScheduledWorkLag: number;
  /** Work rows due and free but not claimed yet: the worker's queue (max). */
  maxDueUnclaimed: number;
  /** Rows leased by the worker: items in progress (max and mean); WORKER_CONCURRENCY caps it. */
  maxLeased: number;
  meanLeased: number;
  samples: number;
}>;

/**
 * Samples the process manager's state in the control database every `intervalMs` until stopped: how far
 * the scheduled-work subscription lags behind the log, and how busy and how queued the worker is.
 */
export const sampleProcessManager = (databaseUrl: string, intervalMs = 100) => {
  const client = new pg.Client({ connectionString: databaseUrl });
  let stopped = false;
  const seen: { lag: number; due: number; leased: number }[] = [];
  const running = (async () => {
    await client.connect();
    try {
      while (!stopped) {
        const { rows } = await client.query<{ lag: string; due: string; leased: string }>(
          `SELECT
             (SELECT count(*) FROM events WHERE NOT EXISTS (SELECT 1 FROM subscription_checkpoints c
                WHERE c.name = 'scheduled-work' AND (events.transaction_id, events.position) <=
                  (split_part(c.checkpoint, ':', 1)::xid8, split_part(c.checkpoint, ':', 2)::bigint)))::text AS lag,
             (SELECT count(*) FROM scheduled_work WHERE due_at <= now()
                AND (lease_until IS NULL OR lease_until < now()))::text AS due,
             (SELECT count(*) FROM scheduled_work WHERE lease_until >= now())::text AS leased`,
        );
        seen.push({ lag: Number(rows[0].lag), due: Number(rows[0].due), leased: Number(rows[0].leased) });
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    } finally {
      await client.end();
    }
  })();
  return async (): Promise<ProcessManagerSamples> => {
    stopped = true;
    await running;
    return {
      maxScheduledWorkLag: Math.max(0, ...seen.map((s) => s.lag)),
      maxDueUnclaimed: Math.max(0, ...seen.map((s) => s.due)),
      maxLeased: Math.max(0, ...seen.map((s) => s.leased)),
      meanLeased: Math.round((seen.reduce((a, s) => a + s.leased, 0) / Math.max(1, seen.length)) * 10) / 10,
      samples: seen.length,
    };
  };
};

/**
 * Transactions committed or rolled back so far in the database of `url` (each statement outside an
 * explicit transaction counts as one). PostgreSQL publishes these counters up to a second late.
 */
export const databaseTransactions = async (url: string): Promise<number> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()`,
    );
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
};
