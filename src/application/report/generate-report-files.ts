import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CreditReport, Period, TaxFiling, Transaction } from '../../domain/report/provider-data.js';
import type { ReportFile, Subject } from '../../domain/report/report.commands.js';
import {
  addCheckedTransaction,
  checkCreditReport,
  checkTaxFiling,
  checkTransaction,
  emptySummary,
  rejectTransaction,
  finishSummary,
  type SummaryAccumulator,
} from '../../domain/report/report-summary.js';
import type { ObjectStorage } from '../ports/object-storage.port.js';
import type { SummaryDocumentRenderer } from '../ports/summary-document.port.js';

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

export const CSV_COLUMNS = [
  'id',
  'date',
  'accountId',
  'amount',
  'currency',
  'description',
  'counterparty',
  'category',
] as const;
const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/** RFC 4180: a field holding a comma, a quote, CR or LF is quoted, and its quotes are doubled. */
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * Text a spreadsheet would run as a formula (CSV/formula injection, OWASP): a cell starting with `=`, `+`,
 * `-`, `@`, tab, CR or LF — also after leading whitespace, and their full-width forms (＝＋－＠), which some
 * spreadsheet locales read as the ASCII ones.
 */
const FORMULA_START = /^[\t\r\n]|^\s*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * Provider text made inert for spreadsheets: a leading `'` before text that would start a formula
 * (`=HYPERLINK(…)` → `'=HYPERLINK(…)`), OWASP's advice; other text unchanged. Only for text cells — the
 * amount column is written by `formatCents`, so a negative amount stays a number.
 */
export const neutraliseFormula = (value: string): string => (FORMULA_START.test(value) ? `'${value}` : value);

/**
 * The usual cell, checked without a regular expression (quoting took ~12 % of the stage's CPU): it starts
 * with printable ASCII other than `=`, `+`, `-` and `@` — so not with whitespace either, and FORMULA_START
 * cannot match — and holds no comma, quote, CR or LF, so NEEDS_QUOTES cannot match. Such text is its own
 * field.
 */
const isPlainCell = (value: string): boolean => {
  const length = value.length;
  if (length === 0) return true;
  const first = value.charCodeAt(0);
  if (first < 0x21 || first > 0x7e || first === 0x3d || first === 0x2b || first === 0x2d || first === 0x40)
    return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2c || c === 0x22 || c === 0x0d || c === 0x0a) return false;
  }
  return true;
};

/** One CSV text cell: neutralised (`neutraliseFormula`), then quoted per RFC 4180 where needed. */
export const csvField = (value: string): string => {
  if (isPlainCell(value)) return value;
  const text = neutraliseFormula(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** Longest NDJSON line accepted (the raw result was capped the same way when stored). */
const MAX_LINE_BYTES = 1024 * 1024;

/** Two decimals from integer cents: `-1234` → `-12.34`, never `-12.3` or a float artefact. */
export const formatCents = (cents: number): string => {
  const abs = cents < 0 ? -cents : cents;
  const fraction = abs % 100;
  return `${cents < 0 ? '-' : ''}${(abs - fraction) / 100}.${fraction < 10 ? '0' : ''}${fraction}`;
};

/** Scalars become their text; null, missing, objects and arrays an empty field (never "null" or "[object Object]"). */
const textOf = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'boolean'
      ? String(value)
      : '';

const isTransactionShaped = (tx: Transaction): boolean =>
  typeof tx.accountId === 'string' &&
  typeof tx.description === 'string' &&
  typeof tx.counterparty === 'string' &&
  typeof tx.category === 'string';

/**
 * Most bytes decoded into one string. Node 24 decodes UTF-8 that is not pure ASCII into a string of 128 KiB
 * up to 1 MiB 4–20× slower per byte, by host, than into a smaller one (213 MB of bank NDJSON: ~0.04 s in
 * 64 KiB pieces, ~0.8 s in the 256 KiB chunks storage reads; bench/RESULTS.md, issue 14), so complete lines
 * are decoded a piece of at most this size at a time.
 */
const DECODE_PIECE_BYTES = 64 * 1024;

/**
 * Where the piece of `lines` that starts at byte `start` ends (exclusive; a newline or the end): after the
 * last whole line within DECODE_PIECE_BYTES, or after the first line when that one alone is longer.
 */
const pieceEnd = (lines: Buffer, start: number): number => {
  if (lines.length - start <= DECODE_PIECE_BYTES) return lines.length;
  const last = lines.lastIndexOf(10, start + DECODE_PIECE_BYTES);
  if (last >= start) return last;
  const next = lines.indexOf(10, start + DECODE_PIECE_BYTES);
  return next === -1 ? lines.length : next;
};

/** A line holding only whitespace (checked on its first character: rows start with `{`). */
const isBlank = (line: string): boolean => line.charCodeAt(0) !== 0x7b && line.trim() === '';

/** The first line without the UTF-8 byte order mark some providers put at the start of a file. */
const withoutBom = (line: string): string => (line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);

/**
 * NDJSON transactions in, RFC 4180 CSV out, feeding the summary accumulator on the way: one pass, memory
 * bounded by a chunk. Lines are split on the raw bytes (no readline): each chunk is decoded once up to its
 * last newline, so a multi-byte character cut by a chunk boundary is decoded only when complete.
 */
export class TransactionsToCsv extends Transform {
  rows = 0;
  rejected = 0;
  private line = 0;
  private rest: Buffer | undefined;

  constructor(
    private readonly summary: SummaryAccumulator,
    private readonly sourceKey: string,
    private readonly period: Period,
  ) {
    super({ writableHighWaterMark: 1024 * 1024, readableHighWaterMark: 1024 * 1024 });
    this.push(CSV_HEADER);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const end = chunk.lastIndexOf(10);
    if (end === -1) {
      this.rest = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
      // One line may not grow without bound (a provider sending one endless line).
      if (this.rest.length > MAX_LINE_BYTES)
        return done(new InvalidProviderDataError(this.sourceKey, this.line + 1, 'line longer than 1 MiB'));
      return done();
    }
    const complete = this.rest ? Buffer.concat([this.rest, chunk.subarray(0, end)]) : chunk.subarray(0, end);
    this.rest = end + 1 < chunk.length ? chunk.subarray(end + 1) : undefined;
    this.settle(complete, done);
  }

  override _flush(done: TransformCallback): void {
    if (this.rest === undefined) return done();
    const last = this.rest;
    this.rest = undefined;
    this.settle(last, done);
  }

  /**
   * Converts `lines` (complete lines, without the newline after the last) and passes on their CSV a piece
   * at a time: one piece's CSV (shorter than its NDJSON) stays below the string sizes that are slow to encode
   * as well, except for a single line longer than a piece.
   */
  private settle(lines: Buffer, done: TransformCallback): void {
    try {
      for (let start = 0; start <= lines.length;) {
        const end = pieceEnd(lines, start);
        const csv = this.convert(lines.toString('utf8', start, end));
        if (csv !== '') this.push(csv);
        start = end + 1;
      }
    } catch (error) {
      return done(error as Error);
    }
    done();
  }

  /** The CSV rows of `text`, complete NDJSON lines; throws InvalidProviderDataError. */
  private convert(text: string): string {
    let out = '';
    let start = 0;
    while (start <= text.length) {
      let newline = text.indexOf('\n', start);
      if (newline === -1) newline = text.length;
      this.line++;
      // Blank lines (and a lone CR of CRLF files, or only spaces) carry no transaction.
      if (newline - start > 1 || (newline - start === 1 && text.charCodeAt(start) !== 13)) {
        const line = text.slice(start, newline);
        if (!isBlank(line)) out += this.row(this.line === 1 ? withoutBom(line) : line);
      }
      start = newline + 1;
    }
    return out;
  }

  private row(line: string): string {
    let tx: Transaction;
    try {
      tx = JSON.parse(line) as Transaction;
    } catch {
      throw new InvalidProviderDataError(this.sourceKey, this.line, 'not a JSON object');
    }
    if (typeof tx !== 'object' || tx === null || Array.isArray(tx))
      throw new InvalidProviderDataError(this.sourceKey, this.line, 'not a JSON object');
    // A row that breaks a rule is left out of the CSV and the figures, and counted in summary.json.
    const checked = checkTransaction(tx, this.period);
    if ('rejected' in checked) {
      rejectTransaction(this.summary, checked.rejected);
      this.rejected++;
      return '';
    }
    // Optional text (a missing description or counterparty) becomes an empty field, not "null".
    if (!isTransactionShaped(tx)) {
      tx = {
        ...tx,
        accountId: textOf(tx.accountId),
        description: textOf(tx.description),
        counterparty: textOf(tx.counterparty),
        category: textOf(tx.category),
      };
    }
    addCheckedTransaction(this.summary, tx, checked.cents);
    this.rows++;
    // checkTransaction let through only a YYYY-MM-DD date and a currency of three capitals: their own fields.
    return `${csvField(tx.id)},${tx.date},${csvField(tx.accountId)},${formatCents(checked.cents)},${tx.currency},${csvField(tx.description)},${csvField(tx.counterparty)},${csvField(tx.category)}\r\n`;
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

/** The credit report, checked (checkCreditReport): one that breaks a rule is counted in `summary` and left out. */
const readCredit = async (
  storage: ObjectStorage,
  key: string,
  summary: SummaryAccumulator,
): Promise<CreditReport | null> => {
  const [first] = await readDocuments(storage, key);
  if (first === undefined) return null;
  const checked = checkCreditReport(first);
  if ('rejected' in checked) {
    rejectTransaction(summary, checked.rejected);
    return null;
  }
  return checked.credit;
};

/**
 * Either `{ filings: [...] }` documents (the provider's shape) or one filing per line; each checked
 * (checkTaxFiling), a filing that breaks a rule counted in `summary` and left out.
 */
const readTaxFilings = async (
  storage: ObjectStorage,
  key: string,
  period: Period,
  summary: SummaryAccumulator,
): Promise<TaxFiling[]> =>
  (await readDocuments(storage, key)).flatMap((doc) => {
    const filings = typeof doc === 'object' && doc !== null && 'filings' in doc ? doc.filings : [doc];
    return (Array.isArray(filings) ? filings : [filings]).flatMap((row: unknown) => {
      const checked = checkTaxFiling(row, period);
      if ('rejected' in checked) {
        rejectTransaction(summary, checked.rejected);
        return [];
      }
      return [checked.filing];
    });
  });

/**
 * The file stage: stored raw results → `transactions.csv`, `summary.json` and `summary.pdf` in storage.
 * The bank transactions are streamed once (source → CSV → storage, with back-pressure through `pipeline`)
 * while the summary is accumulated, so memory does not grow with the number of rows; both summary files
 * are then drawn from that one summary object.
 */
export const generateReportFiles = async ({
  storage,
  documents,
  tenantId,
  reportId,
  subject,
  period,
  inputs,
  generatedAt,
  generation,
  signal,
}: GenerateReportFilesInput): Promise<GeneratedFile[]> => {
  const summary = emptySummary();
  const [credit, taxFilings] = await Promise.all([
    readCredit(storage, inputs.creditKey, summary),
    readTaxFilings(storage, inputs.taxKey, period, summary),
  ]);

  const csv = new TransactionsToCsv(summary, inputs.bankKey, period);
  const source = await storage.get(inputs.bankKey);
  // put() drains `csv` while pipeline() fills it: either side failing destroys the other, so both settle.
  const [storedCsv] = await Promise.all([
    storage.put(reportFileKey(tenantId, reportId, 'transactions.csv', generation), csv, {
      contentType: 'text/csv',
    }),
    pipeline(source, csv, ...(signal ? [{ signal }] : [])),
  ]);

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
    { name: 'transactions.csv', contentType: 'text/csv', rows: csv.rows, ...storedCsv },
    { name: 'summary.json', contentType: 'application/json', ...storedSummary },
    { name: documents.fileName, contentType: documents.contentType, ...storedDocument },
  ];
};
