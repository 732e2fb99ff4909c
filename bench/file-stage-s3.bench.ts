import { join } from 'node:path';
import { S3ObjectStorage } from '../src/infrastructure/storage/s3-object-storage.js';
import { measure, prepare, type WorkerResult } from './file-stage.bench.js';
import { median, type Benchmark, type Figure } from './support.js';

/**
 * The file stage writing to S3 (S3Proxy, filesystem backend, on this machine): the same stage and worker
 * as file-stage.bench.ts, with the files going up by multipart upload. S3Proxy is fetched and started by
 * scripts/s3proxy/s3proxy.mjs (Java 17 + Maven); without them the group prints why and yields nothing.
 * `FILE_STAGE_RUNS` (default 3 here) and `FILE_STAGE_LARGE` (default 5,000,000 rows) shorten a quick check.
 */
type S3Proxy = {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop: () => Promise<void>;
};
type S3ProxyScript = {
  s3ProxyUnavailableReason: () => string | null;
  installS3Proxy: () => Promise<number>;
  startS3Proxy: () => Promise<S3Proxy>;
};

const RATE_ROWS = 1_000_000;
const RATE_RUNS = Number(process.env.FILE_STAGE_RUNS ?? 3);
const RSS_LARGE = Number(process.env.FILE_STAGE_LARGE ?? 5_000_000);

export const benchmarks: Benchmark[] = [
  {
    name: 'file-stage-s3',
    figures: ['file.s3.rate', 'file.s3.peak_rss_mb'],
    run: async () => {
      // `npm run bench` runs from the project root, where the script lives (it is not compiled).
      const script = (await import(join(process.cwd(), 'scripts/s3proxy/s3proxy.mjs'))) as S3ProxyScript;
      const unavailable = script.s3ProxyUnavailableReason();
      if (unavailable) {
        console.error(`file-stage-s3 skipped: ${unavailable}`);
        return [];
      }
      await script.installS3Proxy();
      const server = await script.startS3Proxy();
      const s3 = {
        endpoint: server.endpoint,
        region: server.region,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        bucket: 'bench',
      };
      const storage = new S3ObjectStorage(s3);
      const figures: Figure[] = [];
      try {
        await storage.ensureBucket();
        const rateKeys = await prepare(storage, RATE_ROWS);
        const runs: WorkerResult[] = [];
        for (let i = 0; i < RATE_RUNS; i++) runs.push(await measure({ s3 }, rateKeys, `rate-${i}`));
        figures.push({
          name: 'file.s3.rate',
          value: median(runs.map((r) => r.rowsPerSecond)),
          unit: 'rows/s',
          rows: RATE_ROWS,
          runs: runs.map((r) => r.rowsPerSecond),
          seconds: median(runs.map((r) => r.seconds)),
          rowsPerCpuSecond: median(runs.map((r) => r.rowsPerCpuSecond)),
          csvBytes: runs[0].csvBytes,
          peakRssMb: median(runs.map((r) => r.peakRssMb)),
        });
        for (const rows of [RATE_ROWS, RSS_LARGE]) {
          const keys = rows === RATE_ROWS ? rateKeys : await prepare(storage, rows);
          const result = await measure({ s3 }, keys, `rss-${rows}`);
          figures.push({
            name: 'file.s3.peak_rss_mb',
            value: result.peakRssMb,
            unit: 'MB',
            rows,
            // One fresh process per size: the peak of one run, not a median.
            runs: [result.peakRssMb],
            maxRssMb: result.maxRssMb,
            rowsPerSecond: result.rowsPerSecond,
            seconds: result.seconds,
            csvBytes: result.csvBytes,
          });
        }
        return figures;
      } finally {
        storage.destroy();
        await server.stop();
      }
    },
  },
];
