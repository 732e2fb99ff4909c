import { withConfluxCluster, benchTenantId } from './conflux-cluster.js';
import { median, type Benchmark, type BenchContext, type Figure } from './support.js';

/**
 * `report.e2e_ms`: POST /v1/reports → ready over HTTP, with the simulator (its own process, zero latency)
 * returning 1M (and 5M) transactions. Conflux runs as `npm start` would (dist/src/main.js), in its own
 * process, against a fresh control database. `REPORT_E2E_ROWS` (default "1000000,5000000") and
 * `REPORT_E2E_RUNS` (default 3) shorten a quick check.
 */
const sizes = (process.env.REPORT_E2E_ROWS ?? '1000000,5000000').split(',').map(Number);
const runs = Number(process.env.REPORT_E2E_RUNS ?? 3);

const measureSize = async (ctx: BenchContext, rows: number): Promise<Figure[]> =>
  withConfluxCluster(ctx, { simulator: { transactions: rows, latencyMs: 0 } }, async (cluster) => {
    const accessToken = await cluster.createTenant(benchTenantId('be'));
    const call = async (method: string, path: string, body?: unknown) =>
      (await cluster.call(method, path, accessToken, body)).body;
    const times: number[] = [];
    let csvRows = 0;
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const { id } = await call('POST', '/v1/reports', { subject: { taxId: `BENCH-${i}` } });
      for (;;) {
        const report = await call('GET', `/v1/reports/${id}`);
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
  });

export const benchmarks: Benchmark[] = [
  {
    name: 'report.e2e',
    figures: ['report.e2e_ms'],
    run: async (ctx) => {
      const figures: Figure[] = [];
      for (const rows of sizes) figures.push(...(await measureSize(ctx, rows)));
      return figures;
    },
  },
];
