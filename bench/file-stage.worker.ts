import { randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { generateReportFiles } from '../src/application/report/generate-report-files.js';
import { PdfSummaryRenderer } from '../src/infrastructure/report-documents/pdf-summary-renderer.js';
import type { ObjectStorage } from '../src/application/ports/object-storage.port.js';
import { LocalObjectStorage } from '../src/infrastructure/storage/local-object-storage.js';
import {
  S3ObjectStorage,
  type S3ObjectStorageOptions,
} from '../src/infrastructure/storage/s3-object-storage.js';
import { emptySummary, finishSummary } from '../src/domain/report/report-summary.js';
import { withPeakRss } from './support.js';

/**
 * One measured run of the file stage in a fresh process (spawned by file-stage.bench.ts and
 * file-stage-s3.bench.ts), so that the peak RSS is this run's alone. Argument: JSON
 * `{ rootDir | s3, bankKey, creditKey, taxKey }` (`s3`: S3ObjectStorage options, else local storage under
 * `rootDir`). Prints one JSON line: rows, seconds, rows/s, CPU seconds, peak RSS sampled during the stage,
 * the process' max RSS, and `firstPdfMs`.
 *
 * The clock starts with the renderer warm, as in a server that has rendered a summary.pdf before: the first
 * PDF of a process costs ~150 ms more than the next ones (fontkit reads the font's tables lazily, and the
 * code is not yet compiled; `summary.pdf.render_ms`'s firstRenderMs). That one-time cost is rendered on an
 * empty summary before the clock and printed as `firstPdfMs`; the run's own summary.pdf is in the figure.
 */
type WorkerArgs = {
  rootDir?: string;
  s3?: S3ObjectStorageOptions;
  bankKey: string;
  creditKey: string;
  taxKey: string;
  reportId: string;
};

const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
const storage: ObjectStorage = args.s3
  ? new S3ObjectStorage(args.s3)
  : new LocalObjectStorage({
      rootDir: args.rootDir ?? '',
      secret: randomBytes(32),
      publicBaseUrl: 'http://localhost',
    });
const documents = new PdfSummaryRenderer();
const warmUpStarted = performance.now();
await buffer(
  documents.render(
    finishSummary(emptySummary(), {
      subject: { taxId: 'WARM-UP' },
      period: { from: '2024-01-01', to: '2024-12-31' },
      generatedAt: new Date(0).toISOString(),
      credit: null,
      taxFilings: [],
    }),
  ),
);
const firstPdfMs = Math.round(performance.now() - warmUpStarted);
const baselineRssMb = Math.round((process.memoryUsage.rss() / 1024 / 1024) * 10) / 10;
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
const { result, peakRssMb } = await withPeakRss(() =>
  generateReportFiles({
    storage,
    documents,
    tenantId: 'bench',
    reportId: args.reportId,
    subject: { taxId: 'BENCH-1' },
    period: { from: '2024-01-01', to: '2024-12-31' },
    inputs: { bankKey: args.bankKey, creditKey: args.creditKey, taxKey: args.taxKey },
    generatedAt: new Date().toISOString(),
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// CPU time (all threads) beside wall time: on a shared machine the wall-clock rate swings with others'
// load, while CPU per row shows whether the stage itself got slower.
const cpu = process.cpuUsage(cpuBefore);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const csv = result.find((f) => f.name === 'transactions.csv')!;
if (storage instanceof S3ObjectStorage) storage.destroy();
console.log(
  JSON.stringify({
    rows: csv.rows,
    csvBytes: csv.bytes,
    seconds,
    rowsPerSecond: Math.round(csv.rows! / seconds),
    cpuSeconds,
    rowsPerCpuSecond: Math.round(csv.rows! / cpuSeconds),
    peakRssMb,
    baselineRssMb,
    maxRssMb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
    firstPdfMs,
  }),
);
