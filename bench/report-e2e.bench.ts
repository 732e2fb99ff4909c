import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../src/infrastructure/postgres/embedded-postgres.js';
import { startNodeProcess } from '../test/support/node-process.js';
import { median, type Benchmark, type BenchContext, type Figure } from './support.js';

/**
 * `report.e2e_ms`: POST /v1/reports → ready over HTTP, with the simulator (its own process, zero latency)
 * returning 1M (and 5M) transactions. Conflux runs as `npm start` would (dist/src/main.js), in its own
 * process, against a fresh control database. `REPORT_E2E_ROWS` (default "1000000,5000000") and
 * `REPORT_E2E_RUNS` (default 3) shorten a quick check.
 */
const sizes = (process.env.REPORT_E2E_ROWS ?? '1000000,5000000').split(',').map(Number);
const runs = Number(process.env.REPORT_E2E_RUNS ?? 3);

const withDatabase = async <T>(ctx: BenchContext, work: (url: string) => Promise<T>): Promise<T> => {
  const name = `bench_e2e_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ctx.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(ctx.databaseUrl);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const tenants = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'conflux_tenant_be%'`,
    );
    for (const { datname } of tenants.rows)
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
  }
};

const measureSize = async (ctx: BenchContext, rows: number): Promise<Figure[]> =>
  withDatabase(ctx, async (databaseUrl) => {
    const dataDir = await mkdtemp(join(ctx.tmpDir, 'e2e-'));
    const simPort = await freePort();
    const port = await freePort();
    const operatorToken = randomBytes(24).toString('base64url');
    const simulator = await startNodeProcess(
      'dist/src/interfaces/cli/simulate-providers.js',
      {
        PATH: process.env.PATH,
        SIM_PORT: String(simPort),
        SIM_TRANSACTIONS: String(rows),
        SIM_LATENCY_MS: '0',
      },
      'listening',
    );
    const sim = `http://127.0.0.1:${simPort}`;
    const conflux = await startNodeProcess(
      'dist/src/main.js',
      {
        PATH: process.env.PATH,
        LOG_LEVEL: 'warn',
        PORT: String(port),
        DATA_DIR: dataDir,
        DATABASE_URL: databaseUrl,
        OPERATOR_TOKEN: operatorToken,
        PROVIDER_BANK_URL: `${sim}/bank-transactions`,
        PROVIDER_CREDIT_URL: `${sim}/credit-bureau`,
        PROVIDER_TAX_URL: `${sim}/tax-authority`,
      },
      'Conflux listening',
    );
    const base = `http://127.0.0.1:${port}`;
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await response.json()) as any;
    };
    try {
      const tenantId = `be${randomBytes(4).toString('hex')}`;
      await call('POST', '/v1/tenants', operatorToken, {
        id: tenantId,
        name: 'Bench',
        admin: { username: 'bench', password: 'bench-password' },
      });
      const { accessToken } = await call('POST', '/v1/auth/login', '', {
        tenantId,
        username: 'bench',
        password: 'bench-password',
      });
      const times: number[] = [];
      let csvRows = 0;
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const { id } = await call('POST', '/v1/reports', accessToken, { subject: { taxId: `BENCH-${i}` } });
        for (;;) {
          const report = await call('GET', `/v1/reports/${id}`, accessToken);
          if (report.status === 'ready') {
            csvRows = report.files.find((f: { name: string }) => f.name === 'transactions.csv').rows;
            break;
          }
          if (report.status !== 'pending' && report.status !== 'running' && report.status !== 'generating') {
            throw new Error(`report ${id} ended ${report.status}: ${JSON.stringify(report.error)}`);
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        times.push(performance.now() - started);
      }
      return [
        {
          name: 'report.e2e_ms',
          value: Math.round(median(times)),
          unit: 'ms',
          rows,
          csvRows,
          runs: times.map(Math.round),
          target: rows <= 1_000_000 ? '≤ 10000 ms at 1M rows' : '≤ 45000 ms at 5M rows',
        },
      ];
    } finally {
      await conflux.kill('SIGTERM');
      await simulator.kill('SIGTERM');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

export const benchmarks: Benchmark[] = [
  {
    name: 'report.e2e',
    run: async (ctx) => {
      const figures: Figure[] = [];
      for (const rows of sizes) figures.push(...(await measureSize(ctx, rows)));
      return figures;
    },
  },
];
