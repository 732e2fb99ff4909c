import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ObjectStorage } from '../src/application/ports/object-storage.port.js';
import { LocalObjectStorage } from '../src/infrastructure/storage/local-object-storage.js';
import type { S3ObjectStorageOptions } from '../src/infrastructure/storage/s3-object-storage.js';
import { median, ratio, spread, type Benchmark, type Figure } from './support.js';
import { syntheticNdjson, syntheticTransactions } from './synthetic-transactions.js';

/**
 * The file stage (stored raw NDJSON → transactions.csv, summary.json and summary.pdf in local storage). Inputs are
 * generated first (not timed); every measured run is a fresh child process (file-stage.worker.js), so a
 * run's peak RSS is not inflated by an earlier run's heap. Targets (performance.md): ≥ 300k rows/s, peak
 * RSS ≤ 256 MB and, at 5M rows, within 10 % of its value at 500k; ≥ 3× the seed approach and ≥ 0.5× the
 * COPY limit in the same run. The peers (file-peers.worker.js) read the same rows from a table; the runs
 * of the three alternate (Conflux, seed, COPY, Conflux, …) so a change of load hits all of them, and each
 * ratio is the median of the ratios of one round. `FILE_STAGE_RUNS` (default 5) and `FILE_STAGE_LARGE`
 * (default 5,000,000 rows) shorten a quick check.
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
  /** The process's first summary.pdf, rendered before the clock (file-stage.worker.ts). */
  firstPdfMs: number;
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

type PeerResult = Pick<WorkerResult, 'rows' | 'seconds' | 'rowsPerSecond' | 'rowsPerCpuSecond' | 'peakRssMb'>;

const PEER_TABLE = 'bench_peer_transactions';

/** The rows the file stage reads, as the seed stored them: a table, loaded with COPY (not timed). */
const preparePeerTable = async (databaseUrl: string, rows: number): Promise<void> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${PEER_TABLE}`);
    await client.query(`CREATE TABLE ${PEER_TABLE} (seq bigint PRIMARY KEY, id text, date date, account_id text,
      amount numeric(14, 2), currency text, description text, counterparty text, category text)`);
    const field = (v: string) => `"${v.replaceAll('"', '""')}"`;
    const lines = function* () {
      let seq = 0;
      for (const t of syntheticTransactions(rows))
        yield `${seq++},${t.id},${t.date},${t.accountId},${t.amount},${t.currency},${field(t.description)},${field(t.counterparty)},${t.category}\n`;
    };
    await pipeline(
      Readable.from(lines()),
      client.query(copyFrom(`COPY ${PEER_TABLE} FROM STDIN (FORMAT csv)`)),
    );
    await client.query(`VACUUM ANALYZE ${PEER_TABLE}`);
  } finally {
    await client.end();
  }
};

const dropPeerTable = async (databaseUrl: string): Promise<void> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`DROP TABLE IF EXISTS ${PEER_TABLE}`).finally(() => client.end());
};

const measurePeer = async (mode: 'seed' | 'copy', databaseUrl: string, file: string) => {
  const { stdout } = await run(
    process.execPath,
    [join(here, 'file-peers.worker.js'), JSON.stringify({ mode, databaseUrl, table: PEER_TABLE, file })],
    { maxBuffer: 1024 * 1024 },
  );
  await rm(file, { force: true });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as PeerResult;
};

const RATE_ROWS = 1_000_000;
const RATE_RUNS = Number(process.env.FILE_STAGE_RUNS ?? 5);
const RSS_SMALL = 500_000;
const RSS_LARGE = Number(process.env.FILE_STAGE_LARGE ?? 5_000_000);

export const benchmarks: Benchmark[] = [
  {
    name: 'file-stage',
    figures: [
      'file.csv.rate',
      'file.seed.rate',
      'file.copy.rate',
      'file.csv.peak_rss_mb',
      'file.csv.peak_rss_growth',
    ],
    run: async ({ tmpDir, databaseUrl }) => {
      const rootDir = join(tmpDir, 'file-stage-objects');
      const storage = new LocalObjectStorage({
        rootDir,
        secret: randomBytes(32),
        publicBaseUrl: 'http://localhost',
      });
      const figures: Figure[] = [];
      try {
        const rateKeys = await prepare(storage, RATE_ROWS);
        await preparePeerTable(databaseUrl, RATE_ROWS);
        const runs: WorkerResult[] = [];
        const seeds: PeerResult[] = [];
        const copies: PeerResult[] = [];
        for (let i = 0; i < RATE_RUNS; i++) {
          runs.push(await measure({ rootDir }, rateKeys, `rate-${i}`));
          seeds.push(await measurePeer('seed', databaseUrl, join(tmpDir, 'seed.csv')));
          copies.push(await measurePeer('copy', databaseUrl, join(tmpDir, 'copy.csv')));
        }
        await dropPeerTable(databaseUrl);
        const rates = runs.map((r) => r.rowsPerSecond);
        const perRound = (peers: PeerResult[]) => rates.map((rate, i) => rate / peers[i].rowsPerSecond);
        figures.push({
          name: 'file.csv.rate',
          value: median(rates),
          unit: 'rows/s',
          rows: RATE_ROWS,
          runs: rates,
          spread: spread(rates),
          ratioToSeed: ratio(median(perRound(seeds))),
          ratioToCopy: ratio(median(perRound(copies))),
          ratioRuns: { seed: perRound(seeds).map(ratio), copy: perRound(copies).map(ratio) },
          seconds: median(runs.map((r) => r.seconds)),
          rowsPerCpuSecond: median(runs.map((r) => r.rowsPerCpuSecond)),
          csvBytes: runs[0].csvBytes,
          peakRssMb: median(runs.map((r) => r.peakRssMb)),
          firstPdfMsNotTimed: median(runs.map((r) => r.firstPdfMs)),
        });
        for (const [name, peers, what] of [
          ['file.seed.rate', seeds, 'pg-cursor batches of 1,000 → csv-stringify stream → file'],
          ['file.copy.rate', copies, 'COPY … TO STDOUT (FORMAT csv) → file'],
        ] as const) {
          const peerRates = peers.map((p) => p.rowsPerSecond);
          figures.push({
            name,
            value: median(peerRates),
            unit: 'rows/s',
            rows: RATE_ROWS,
            peer: what,
            runs: peerRates,
            spread: spread(peerRates),
            rowsPerCpuSecond: median(peers.map((p) => p.rowsPerCpuSecond)),
            peakRssMb: median(peers.map((p) => p.peakRssMb)),
          });
        }

        for (const rows of [RSS_SMALL, RSS_LARGE]) {
          const keys = await prepare(storage, rows);
          const result = await measure({ rootDir }, keys, `rss-${rows}`);
          figures.push({
            name: 'file.csv.peak_rss_mb',
            value: result.peakRssMb,
            unit: 'MB',
            rows,
            // One fresh process per size: the peak of one run, not a median.
            runs: [result.peakRssMb],
            maxRssMb: result.maxRssMb,
            baselineRssMb: result.baselineRssMb,
            rowsPerSecond: result.rowsPerSecond,
            rowsPerCpuSecond: result.rowsPerCpuSecond,
            seconds: result.seconds,
            csvBytes: result.csvBytes,
          });
          await rm(join(rootDir, 'data', 'bench', String(rows)), { recursive: true, force: true });
        }
        const [small, large] = figures.filter((f) => f.name === 'file.csv.peak_rss_mb').map((f) => f.value);
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
