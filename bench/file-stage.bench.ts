import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ObjectStorage } from '../src/application/ports/object-storage.port.js';
import { LocalObjectStorage } from '../src/infrastructure/storage/local-object-storage.js';
import type { S3ObjectStorageOptions } from '../src/infrastructure/storage/s3-object-storage.js';
import { median, type Benchmark, type Figure } from './support.js';
import { syntheticNdjson } from './synthetic-transactions.js';

/**
 * The file stage (stored raw NDJSON → transactions.csv + summary.json in local storage). Inputs are
 * generated first (not timed); every measured run is a fresh child process (file-stage.worker.js), so a
 * run's peak RSS is not inflated by an earlier run's heap. Targets (performance.md): ≥ 300k rows/s, peak
 * RSS ≤ 256 MB and, at 5M rows, within 10 % of its value at 500k. `FILE_STAGE_RUNS` (default 5) and
 * `FILE_STAGE_LARGE` (default 5,000,000 rows) shorten a quick check.
 */
const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

export type WorkerResult = {
  rows: number;
  csvBytes: number;
  seconds: number;
  rowsPerSecond: number;
  cpuSeconds: number;
  rowsPerCpuSecond: number;
  peakRssMb: number;
  baselineRssMb: number;
  maxRssMb: number;
};

/** Stores the three providers' raw results of a `rows`-transaction report (not timed). */
export const prepare = async (storage: ObjectStorage, rows: number) => {
  const prefix = `bench/${rows}`;
  const keys = {
    bankKey: `${prefix}/bank-transactions.ndjson`,
    creditKey: `${prefix}/credit-bureau.ndjson`,
    taxKey: `${prefix}/tax-authority.ndjson`,
  };
  await storage.put(keys.bankKey, Readable.from(syntheticNdjson(rows)), {
    contentType: 'application/x-ndjson',
  });
  const credit = { score: 712, band: 'good', openAccounts: 4, delinquencies: 0, totalDebt: 18250.5 };
  await storage.put(keys.creditKey, Readable.from([`${JSON.stringify(credit)}\n`]), {
    contentType: 'application/x-ndjson',
  });
  const tax = { filings: [{ year: 2024, income: 64_000, taxPaid: 15_200.25, currency: 'EUR' }] };
  await storage.put(keys.taxKey, Readable.from([`${JSON.stringify(tax)}\n`]), {
    contentType: 'application/x-ndjson',
  });
  return keys;
};

/** One run in a fresh process; `where`: `{ rootDir }` (local) or `{ s3 }` (S3ObjectStorage options). */
export const measure = async (
  where: { rootDir: string } | { s3: S3ObjectStorageOptions },
  keys: Awaited<ReturnType<typeof prepare>>,
  reportId: string,
) => {
  const { stdout } = await run(
    process.execPath,
    [join(here, 'file-stage.worker.js'), JSON.stringify({ ...where, reportId, ...keys })],
    { maxBuffer: 1024 * 1024 },
  );
  const line = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as WorkerResult;
};

const RATE_ROWS = 1_000_000;
const RATE_RUNS = Number(process.env.FILE_STAGE_RUNS ?? 5);
const RSS_SMALL = 500_000;
const RSS_LARGE = Number(process.env.FILE_STAGE_LARGE ?? 5_000_000);

export const benchmarks: Benchmark[] = [
  {
    name: 'file-stage',
    run: async ({ tmpDir }) => {
      const rootDir = join(tmpDir, 'file-stage-objects');
      const storage = new LocalObjectStorage({
        rootDir,
        secret: randomBytes(32),
        publicBaseUrl: 'http://localhost',
      });
      const figures: Figure[] = [];
      try {
        const rateKeys = await prepare(storage, RATE_ROWS);
        const runs: WorkerResult[] = [];
        for (let i = 0; i < RATE_RUNS; i++) runs.push(await measure({ rootDir }, rateKeys, `rate-${i}`));
        const rates = runs.map((r) => r.rowsPerSecond);
        figures.push({
          name: 'file.csv.rate',
          value: median(rates),
          unit: 'rows/s',
          rows: RATE_ROWS,
          runs: rates,
          seconds: median(runs.map((r) => r.seconds)),
          rowsPerCpuSecond: median(runs.map((r) => r.rowsPerCpuSecond)),
          csvBytes: runs[0].csvBytes,
          peakRssMb: median(runs.map((r) => r.peakRssMb)),
        });

        for (const rows of [RSS_SMALL, RSS_LARGE]) {
          const keys = await prepare(storage, rows);
          const result = await measure({ rootDir }, keys, `rss-${rows}`);
          figures.push({
            name: 'file.csv.peak_rss_mb',
            value: result.peakRssMb,
            unit: 'MB',
            rows,
            maxRssMb: result.maxRssMb,
            baselineRssMb: result.baselineRssMb,
            rowsPerSecond: result.rowsPerSecond,
            rowsPerCpuSecond: result.rowsPerCpuSecond,
            seconds: result.seconds,
            csvBytes: result.csvBytes,
          });
          await rm(join(rootDir, 'data', 'bench', String(rows)), { recursive: true, force: true });
        }
        const [small, large] = figures.slice(1).map((f) => f.value);
        figures.push({
          name: 'file.csv.peak_rss_growth',
          value: Math.round(((large - small) / small) * 1000) / 10,
          unit: '%',
          rows: RSS_LARGE,
          from: RSS_SMALL,
        });
        return figures;
      } finally {
        await rm(rootDir, { recursive: true, force: true });
      }
    },
  },
];
