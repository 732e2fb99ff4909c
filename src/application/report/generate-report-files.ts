import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CreditReport, Period, TaxFiling } from '../../domain/report/provider-data.js';
import type { ReportFile, Subject } from '../../domain/report/report.commands.js';
import {
  emptySummary,
  finishSummary,
  mergeSummary,
  type SummaryAccumulator,
} from '../../domain/report/report-summary.js';
import type { ObjectStorage } from '../ports/object-storage.port.js';
import type { SummaryDocumentRenderer } from '../ports/summary-document.port.js';
import { convertSlice, CSV_HEADER, type CsvSlice } from './transactions-csv.js';
import { TransactionsCsvThreads } from './transactions-csv-threads.js';

export type GeneratedFile = ReportFile;

export type GenerateReportFilesInput = Readonly<{
  storage: ObjectStorage;
  /** Draws summary.pdf from the same summary object summary.json is written from. */
  documents: SummaryDocumentRenderer;
  tenantId: string;
  reportId: string;
  subject: Subject;
  period: Period;
  /** Storage keys of the providers' raw NDJSON results (claim checks). */
  inputs: Readonly<{ bankKey: string; creditKey: string; taxKey: string }>;
  /** From ReportGenerationStarted, so that every run of one report's generation writes the same summary. */
  generatedAt: string;
  /** This run's own key prefix (e.g. `g42`): a stale run never overwrites the files another one published. */
  generation?: string;
  /** Aborts the run (the worker lost its lease). */
  signal?: AbortSignal;
  /**
   * Worker threads converting the bank transactions; default: two (at most one per core, counting other
   * stages running in this process) for a result of at least PARALLEL_FROM_BYTES, none below.
   */
  threads?: number;
}>;

/** A raw provider result that cannot be turned into a report (the worker retries, then fails the report). */
export class InvalidProviderDataError extends Error {
  constructor(
    readonly key: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${key}, line ${line}: ${detail}`);
    this.name = 'InvalidProviderDataError';
  }
}

export const reportFileKey = (
  tenantId: string,
  reportId: string,
  name: string,
  generation?: string,
): string => `tenants/${tenantId}/reports/${reportId}/${generation ? `${generation}/` : ''}${name}`;

/** Longest NDJSON line accepted (the raw result was capped the same way when stored). */
const MAX_LINE_BYTES = 1024 * 1024;

/** Converts one slice of complete NDJSON lines (UTF-8, no newline after the last): here or in a worker thread. */
export type SliceConverter = (bytes: Buffer) => Promise<CsvSlice>;

/** The converter of the calling thread. */
export const convertHere =
  (period: Period): SliceConverter =>
  (bytes) =>
    Promise.resolve(convertSlice(bytes.toString('utf8'), period));

/**
 * NDJSON transactions in, RFC 4180 CSV out, feeding the summary accumulator on the way: one pass, memory
 * bounded by a few slices. Lines are split on the raw bytes (no readline) into slices of complete lines of
 * about `sliceBytes`, so a multi-byte character cut by a chunk boundary is decoded only when complete.
 * Up to `inFlight` slices are converted at once (by worker threads); their CSV and figures are taken in
 * the slices' order, so the output is the same bytes whatever converts them.
 */
export class TransactionsToCsv extends Transform {
  rows = 0;
  /** Lines of the slices taken so far. */
  private line = 0;
  /** Complete lines not yet sent, each piece ending with its newline. */
  private ready: Buffer[] = [];
  private readyBytes = 0;
  /** The bytes after the last newline (an unfinished line). */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private readonly inFlight: Promise<CsvSlice>[] = [];

  constructor(
    private readonly summary: SummaryAccumulator,
    private readonly sourceKey: string,
    private readonly convert: SliceConverter,
    private readonly options: Readonly<{ sliceBytes: number; inFlight: number }> = {
      sliceBytes: 0,
      inFlight: 1,
    },
  ) {
    super({ writableHighWaterMark: 1024 * 1024, readableHighWaterMark: 1024 * 1024 });
    this.push(CSV_HEADER);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const end = chunk.lastIndexOf(10);
    if (end === -1) {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      // One line may not grow without bound (a provider sending one endless line).
      if (this.tailBytes > MAX_LINE_BYTES) {
        this.send(this.ready, this.readyBytes - 1);
        const error = { line: 1, detail: 'line longer than 1 MiB' };
        this.inFlight.push(Promise.resolve({ csv: '', rows: 0, lines: 0, summaries: [], error }));
        return this.takeInOrder(0, done);
      }
      return done();
    }
    this.ready.push(...this.tail, chunk.subarray(0, end + 1));
    this.readyBytes += this.tailBytes + end + 1;
    this.tail = end + 1 < chunk.length ? [chunk.subarray(end + 1)] : [];
    this.tailBytes = chunk.length - end - 1;
    if (this.readyBytes >= this.options.sliceBytes) {
      this.send(this.ready, this.readyBytes - 1);
      this.ready = [];
      this.readyBytes = 0;
    }
    this.takeInOrder(this.options.inFlight - 1, done);
  }

  override _flush(done: TransformCallback): void {
    if (this.tailBytes > 0) this.send([...this.ready, ...this.tail], this.readyBytes + this.tailBytes);
    else this.send(this.ready, this.readyBytes - 1);
    this.takeInOrder(0, done);
  }

  /** Sends the first `bytes` of `pieces` to be converted (nothing when there are no pieces). */
  private send(pieces: Buffer[], bytes: number): void {
    if (pieces.length === 0) return;
    const converted = this.convert(
      (pieces.length === 1 ? pieces[0] : Buffer.concat(pieces)).subarray(0, bytes),
    );
    // Awaited in order by takeInOrder(); a slice failing meanwhile is not an unhandled rejection.
    converted.catch(() => undefined);
    this.inFlight.push(converted);
  }

  /** Takes converted slices in order until at most `pending` are left, then calls `done`. */
  private takeInOrder(pending: number, done: TransformCallback): void {
    const next = async (): Promise<void> => {
      while (this.inFlight.length > pending) {
        const slice = await this.inFlight.shift()!;
        if (slice.error)
          throw new InvalidProviderDataError(
            this.sourceKey,
            this.line + slice.error.line,
            slice.error.detail,
          );
        this.line += slice.lines;
        this.rows += slice.rows;
        for (const figures of slice.summaries) mergeSummary(this.summary, figures);
        if (slice.csv.length > 0) this.push(slice.csv);
      }
    };
    next().then(() => done(), done);
  }
}

/** Small provider results (a credit report, a few tax filings) are read whole, up to this size. */
const SMALL_RESULT_LIMIT = 8 * 1024 * 1024;

/** The JSON documents of a small result: one document (pretty-printed or not), or NDJSON lines. */
const readDocuments = async (storage: ObjectStorage, key: string): Promise<unknown[]> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await storage.get(key)) {
    size += (chunk as Buffer).length;
    if (size > SMALL_RESULT_LIMIT) throw new InvalidProviderDataError(key, 0, 'larger than 8 MiB');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return [];
  try {
    return [JSON.parse(text) as unknown];
  } catch {
    return text.split('\n').flatMap((line, index): unknown[] => {
      if (line.trim() === '') return [];
      try {
        return [JSON.parse(line) as unknown];
      } catch {
        throw new InvalidProviderDataError(key, index + 1, 'not JSON');
      }
    });
  }
};

const readCredit = async (storage: ObjectStorage, key: string): Promise<CreditReport | null> => {
  const [first] = await readDocuments(storage, key);
  return typeof first === 'object' && first !== null ? (first as CreditReport) : null;
};

/** Either `{ filings: [...] }` documents (the provider's shape) or one filing per line. */
const readTaxFilings = async (storage: ObjectStorage, key: string): Promise<TaxFiling[]> =>
  (await readDocuments(storage, key)).flatMap((doc) => {
    if (typeof doc !== 'object' || doc === null) return [];
    const filings = (doc as { filings?: unknown }).filings;
    return Array.isArray(filings) ? (filings as TaxFiling[]) : [doc as TaxFiling];
  });

/** Bank results from this size on are converted by worker threads (smaller ones: starting threads costs more). */
const PARALLEL_FROM_BYTES = 8 * 1024 * 1024;
/**
 * Bytes of NDJSON per slice sent to a worker thread (~1,200 rows, one read chunk of local storage). Larger
 * slices keep more of each thread's garbage alive across collections: at 1 MiB the stage peaked at ~460 MB
 * RSS against ~240 MB at 256 KiB, for no measurable gain in CPU.
 */
const SLICE_BYTES = 256 * 1024;

/** `transactions.csv` from the bank result, one pass, feeding `summary` on the way. */
const writeTransactionsCsv = async (
  {
    storage,
    tenantId,
    reportId,
    period,
    inputs,
    generation,
    signal,
    threads: wanted,
  }: GenerateReportFilesInput,
  summary: SummaryAccumulator,
): Promise<GeneratedFile> => {
  const large = async () => ((await storage.head(inputs.bankKey))?.bytes ?? 0) >= PARALLEL_FROM_BYTES;
  const threads = TransactionsCsvThreads.open(wanted ?? ((await large()) ? 2 : 0), period);
  try {
    const csv = threads
      ? new TransactionsToCsv(summary, inputs.bankKey, (bytes) => threads.convert(bytes), {
          sliceBytes: SLICE_BYTES,
          inFlight: 2 * threads.size,
        })
      : new TransactionsToCsv(summary, inputs.bankKey, convertHere(period));
    const source = await storage.get(inputs.bankKey);
    // put() drains `csv` while pipeline() fills it: either side failing destroys the other, so both settle.
    const [stored] = await Promise.all([
      storage.put(reportFileKey(tenantId, reportId, 'transactions.csv', generation), csv, {
        contentType: 'text/csv',
      }),
      pipeline(source, csv, ...(signal ? [{ signal }] : [])),
    ]);
    return { name: 'transactions.csv', contentType: 'text/csv', rows: csv.rows, ...stored };
  } finally {
    await threads?.close();
  }
};

/**
 * The file stage: stored raw results → `transactions.csv`, `summary.json` and `summary.pdf` in storage.
 * The bank transactions are streamed once (source → CSV → storage, with back-pressure through `pipeline`)
 * while the summary is accumulated, so memory does not grow with the number of rows; both summary files
 * are then drawn from that one summary object. Large results are parsed and encoded by worker threads, in
 * slices whose output is taken in order (docs/adr/0027): the files are the same bytes either way.
 */
export const generateReportFiles = async (input: GenerateReportFilesInput): Promise<GeneratedFile[]> => {
  const { storage, documents, tenantId, reportId, subject, period, inputs, generatedAt, generation } = input;
  const [credit, taxFilings] = await Promise.all([
    readCredit(storage, inputs.creditKey),
    readTaxFilings(storage, inputs.taxKey),
  ]);

  const summary = emptySummary();
  const csvFile = await writeTransactionsCsv(input, summary);

  const figures = finishSummary(summary, { subject, period, generatedAt, credit, taxFilings });
  const storedSummary = await storage.put(
    reportFileKey(tenantId, reportId, 'summary.json', generation),
    Readable.from([Buffer.from(JSON.stringify(figures, null, 2))]),
    { contentType: 'application/json' },
  );
  const storedDocument = await storage.put(
    reportFileKey(tenantId, reportId, documents.fileName, generation),
    documents.render(figures),
    { contentType: documents.contentType },
  );

  return [
    csvFile,
    { name: 'summary.json', contentType: 'application/json', ...storedSummary },
    { name: documents.fileName, contentType: documents.contentType, ...storedDocument },
  ];
};
