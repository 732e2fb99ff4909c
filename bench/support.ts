import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../src/infrastructure/postgres/embedded-postgres.js';

/** One measured figure, printed as one JSON line by bench/run.ts. */
export type Figure = Readonly<{ name: string; value: number; unit: string; [extra: string]: unknown }>;

/**
 * A benchmark module (`bench/*.bench.ts`) exports `benchmarks: Benchmark[]`: a group `name` and the names of
 * the `figures` it prints, so that `npm run bench -- <name>` selects a group by either.
 */
export type Benchmark = Readonly<{
  name: string;
  figures: readonly string[];
  run: (ctx: BenchContext) => Promise<Figure[]>;
}>;

export type BenchContext = Readonly<{ databaseUrl: string; postgresVersion: string; tmpDir: string }>;

/** DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory. */
export const benchDatabase = async (): Promise<{ url: string; stop: () => Promise<void> }> => {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => undefined };
  const dir = await mkdtemp(join(tmpdir(), 'conflux-bench-pg-'));
  return startEmbeddedPostgres(dir, { persistent: false });
};

/** Samples RSS every 50 ms while `work` runs; returns its result and the peak in MB. */
export const withPeakRss = async <T>(work: () => Promise<T>): Promise<{ result: T; peakRssMb: number }> => {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakRssMb: Math.round((peak / 1024 / 1024) * 10) / 10 };
  } finally {
    clearInterval(timer);
  }
};

export const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Smallest and largest of a figure's runs: how far apart runs of one figure landed. */
export const spread = (values: number[]): { min: number; max: number } => ({
  min: Math.min(...values),
  max: Math.max(...values),
});

/** A ratio to two decimals, as figures print them. */
export const ratio = (value: number): number => Math.round(value * 100) / 100;
