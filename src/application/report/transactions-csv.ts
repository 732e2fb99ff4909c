import type { Period, Transaction } from '../../domain/report/provider-data.js';
import {
  addCheckedTransaction,
  checkTransaction,
  emptySummary,
  rejectTransaction,
  type SummaryAccumulator,
} from '../../domain/report/report-summary.js';

/**
 * NDJSON bank transactions → RFC 4180 CSV rows and summary figures, for one slice of complete lines. Pure
 * (no I/O, no stream): the file stage runs it on its own thread for small results and in worker threads
 * (transactions-csv.worker.ts) for large ones, and merges the slices in their order.
 */
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
export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

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
 * The usual cell, checked without a regular expression: it starts with printable ASCII other than `=`, `+`,
 * `-` and `@` (so with no whitespace either: FORMULA_START cannot match) and holds no comma, quote, CR or
 * LF (NEEDS_QUOTES cannot match). Such text is its own field.
 */
const isPlainCell = (value: string): boolean => {
  const length = value.length;
  if (length === 0) return true;
  const first = value.charCodeAt(0);
  if (first < 0x21 || first > 0x7e || first === 0x3d || first === 0x2b || first === 0x2d || first === 0x40)
    return false;
  for (let i = 1; i < length; i++) {
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

/** What one slice of NDJSON lines turned into. */
export type CsvSlice = {
  /** The slice's CSV rows, CRLF-terminated, no header: text, or its UTF-8 bytes from a worker thread. */
  csv: string | Uint8Array;
  /** Rows written to `csv`. */
  rows: number;
  /** Lines in the slice, blank ones included: the next slice's line 1 is this one's `lines + 1`. */
  lines: number;
  /**
   * The slice's figures: the rejected rows first, then one accumulator per currency in the order the
   * currencies first appear. Merged in order (`mergeSummary`), they give what one pass over all rows gives.
   */
  summaries: SummaryAccumulator[];
  /** The first line that is not a JSON object, numbered from 1 in this slice; `csv` is then incomplete. */
  error?: Readonly<{ line: number; detail: string }>;
};

const parseObject = (line: string): Transaction | undefined => {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Transaction)
    : undefined;
};

/**
 * Converts `text`, complete NDJSON lines (LF or CRLF; without the newline after the last one), under the
 * rules of `checkTransaction` for `period`. Blank lines carry no transaction. A row that breaks a rule is
 * left out of the CSV and the figures and counted as rejected; a line that is not a JSON object stops the
 * slice with `error` (the provider result is unusable). Missing optional text becomes an empty field.
 */
export const convertSlice = (text: string, period: Period): CsvSlice => {
  const rejected = emptySummary();
  const summaries = [rejected];
  let sums: SummaryAccumulator | undefined;
  let out = '';
  let rows = 0;
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let newline = text.indexOf('\n', start);
    if (newline === -1) newline = text.length;
    line++;
    // Blank lines (and a lone CR of CRLF files) carry no transaction.
    if (newline - start > 1 || (newline - start === 1 && text.charCodeAt(start) !== 13)) {
      let tx = parseObject(text.slice(start, newline));
      if (tx === undefined)
        return { csv: out, rows, lines: line, summaries, error: { line, detail: 'not a JSON object' } };
      const checked = checkTransaction(tx, period);
      if ('rejected' in checked) rejectTransaction(rejected, checked.rejected);
      else {
        if (!isTransactionShaped(tx)) {
          tx = {
            ...tx,
            accountId: textOf(tx.accountId),
            description: textOf(tx.description),
            counterparty: textOf(tx.counterparty),
            category: textOf(tx.category),
          };
        }
        if (sums === undefined || sums.currency !== tx.currency) {
          const currency = tx.currency;
          sums = summaries.find((s) => s.currency === currency);
          if (sums === undefined) summaries.push((sums = { ...emptySummary(), currency }));
        }
        addCheckedTransaction(sums, tx, checked.cents);
        rows++;
        out += `${csvField(tx.id)},${csvField(tx.date)},${csvField(tx.accountId)},${formatCents(checked.cents)},${csvField(tx.currency)},${csvField(tx.description)},${csvField(tx.counterparty)},${csvField(tx.category)}\r\n`;
      }
    }
    start = newline + 1;
  }
  return { csv: out, rows, lines: line, summaries };
};
