import type { CreditReport, Period, TaxFiling, Transaction } from './provider-data.js';
import type { Subject } from './report.commands.js';

/**
 * The figures of `summary.json` (and later the PDF), accumulated in one pass over the transactions.
 *
 * Money is summed in integer cents: adding millions of two-decimal floats drifts, integers below 2^53 do
 * not. Amounts are only ever added within one currency: the first currency seen is the report currency,
 * and rows in any other currency are counted apart instead of being added to it.
 */
export type SummaryAccumulator = {
  currency: string | null;
  count: number;
  inCents: number;
  outCents: number;
  months: Map<string, MonthBucket>;
  categories: Map<string, CategoryBucket>;
  otherCurrencies: Map<string, number>;
  /** Rows left out because they broke a rule (checkTransaction), per reason. */
  rejected: Map<RejectionReason, number>;
  /** Transactions arrive in date order: the current month's bucket is reused without a lookup. */
  lastMonth: string;
  lastBucket: MonthBucket | undefined;
};

type MonthBucket = { inCents: number; outCents: number };
type CategoryBucket = { outCents: number; count: number };

export type MonthlyFlow = Readonly<{ month: string; in: number; out: number }>;
export type CategorySpending = Readonly<{ category: string; amount: number; count: number }>;

export type ReportSummary = Readonly<{
  subject: Subject;
  period: Period;
  generatedAt: string;
  /** Currency of every amount below; null when there were no transactions. */
  currency: string | null;
  /** `moneyOut` is positive; `net` = `moneyIn` − `moneyOut`. */
  totals: Readonly<{ count: number; moneyIn: number; moneyOut: number; net: number }>;
  /** Every month of the period in order (zeros where nothing happened), plus any month a transaction fell in. */
  monthly: readonly MonthlyFlow[];
  /** Money out per category, largest first. */
  spendingByCategory: readonly CategorySpending[];
  /** Transactions left out of the figures because they are not in `currency`. */
  otherCurrencies: readonly Readonly<{ currency: string; count: number }>[];
  /** Provider rows left out of the CSV and the figures because they broke a rule (checkTransaction). */
  rejected: Readonly<{ count: number; byReason: Readonly<Partial<Record<RejectionReason, number>>> }>;
  credit: CreditReport | null;
  taxFilings: readonly TaxFiling[];
}>;

export const emptySummary = (): SummaryAccumulator => ({
  currency: null,
  count: 0,
  inCents: 0,
  outCents: 0,
  months: new Map(),
  categories: new Map(),
  otherCurrencies: new Map(),
  rejected: new Map(),
  lastMonth: '',
  lastBucket: undefined,
});

/**
 * Adds one transaction. It updates `acc` in place and returns it: a pass over 5M rows must not allocate
 * per row, and the accumulator belongs to that pass alone.
 */
export const addTransaction = (acc: SummaryAccumulator, tx: Transaction): SummaryAccumulator =>
  addCheckedTransaction(acc, tx, toCents(tx.amount) ?? 0);

/** addTransaction for a row checkTransaction accepted, with the cents it answered (toCents once per row). */
export const addCheckedTransaction = (
  acc: SummaryAccumulator,
  tx: Transaction,
  cents: number,
): SummaryAccumulator => {
  if (acc.currency !== tx.currency) {
    if (acc.currency === null) acc.currency = tx.currency;
    else {
      acc.otherCurrencies.set(tx.currency, (acc.otherCurrencies.get(tx.currency) ?? 0) + 1);
      return acc;
    }
  }
  let bucket = acc.lastBucket;
  if (bucket === undefined || !tx.date.startsWith(acc.lastMonth)) {
    const month = tx.date.slice(0, 7);
    bucket = acc.months.get(month);
    if (bucket === undefined) acc.months.set(month, (bucket = { inCents: 0, outCents: 0 }));
    acc.lastMonth = month;
    acc.lastBucket = bucket;
  }
  acc.count++;
  if (cents >= 0) {
    acc.inCents += cents;
    bucket.inCents += cents;
  } else {
    acc.outCents -= cents;
    bucket.outCents -= cents;
    const category = acc.categories.get(tx.category);
    if (category === undefined) acc.categories.set(tx.category, { outCents: -cents, count: 1 });
    else {
      category.outCents -= cents;
      category.count++;
    }
  }
  return acc;
};

/** Counts a row that checkTransaction refused. */
export const rejectTransaction = (acc: SummaryAccumulator, reason: RejectionReason): SummaryAccumulator => {
  acc.rejected.set(reason, (acc.rejected.get(reason) ?? 0) + 1);
  return acc;
};

const money = (cents: number): number => cents / 100;

/** Largest amount taken as real, in currency units; anything larger is a provider error (e.g. `1e21`). */
export const MAX_ABS_AMOUNT = 1e12;

/**
 * Integer cents of an amount, rounded half away from zero on the amount's decimal text (JavaScript's
 * shortest round-trip form: `0.125` → 13, `-0.125` → -13, `1.005` → 101), never through a float product
 * (`1.005 * 100` is 100.49…). Undefined when it is not a finite number within ±MAX_ABS_AMOUNT. From
 * there on money stays in integer cents (CSV and summary alike).
 */
export const toCents = (amount: number): number | undefined => {
  if (!Number.isFinite(amount) || Math.abs(amount) > MAX_ABS_AMOUNT) return undefined;
  // Fast path for the usual amount (at most two decimals): its product by 100 lies within rounding error
  // of an integer, far from any half cent, where the decimal-text rule gives that same integer (a property
  // test checks the two agree).
  const scaled = amount * 100;
  const nearest = Math.round(scaled);
  if (Math.abs(scaled - nearest) < 1e-6) return nearest === 0 ? 0 : nearest;
  return centsByDecimalText(amount);
};

/** toCents' rule itself, on the amount's shortest round-trip decimal text; for a finite amount. */
export const centsByDecimalText = (amount: number): number => {
  const text = String(Math.abs(amount));
  let cents = 0;
  // Below 1e-6 the text has an exponent: such amounts round to 0 cents. Above, none up to 1e21.
  if (!text.includes('e')) {
    const [whole = '0', fraction = ''] = text.split('.');
    const digits = `${fraction}000`;
    cents = Number(whole) * 100 + Number(digits.slice(0, 2)) + (digits.charCodeAt(2) >= 53 ? 1 : 0);
  }
  return amount < 0 && cents !== 0 ? -cents : cents;
};

/** Why a bank row was left out; a credit report or tax filing that breaks any rule is left out whole. */
export type RejectionReason =
  | 'invalid_row'
  | 'invalid_date'
  | 'outside_period'
  | 'invalid_amount'
  | 'invalid_currency'
  | 'invalid_credit_report'
  | 'invalid_tax_filing';

/** ISO 4217 codes the runtime knows (Intl's list: current and historic codes). */
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

/** The last currency found valid: a provider's rows nearly always repeat it. */
let lastCurrency = '';

const isCurrencyCode = (text: string): boolean => {
  if (text === lastCurrency) return true;
  if (!/^[A-Z]{3}$/.test(text) || !CURRENCIES.has(text)) return false;
  lastCurrency = text;
  return true;
};

/** The last date found valid: provider rows come in date order, so most rows repeat the one before. */
let lastCalendarDate = '';

const isCalendarDate = (text: string): boolean => {
  if (text === lastCalendarDate) return true;
  if (!isCalendarDateUncached(text)) return false;
  lastCalendarDate = text;
  return true;
};

const isCalendarDateUncached = (text: string): boolean => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const [y, m, d] = text.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
};

/**
 * The rules every provider row must meet to enter the report (api.md: providers are not trusted): an id,
 * a calendar date (YYYY-MM-DD) inside the requested period (inclusive), a finite amount within
 * ±MAX_ABS_AMOUNT, and an ISO 4217 currency code. Answers the row's cents, or why it is rejected.
 */
export const checkTransaction = (
  tx: Readonly<Record<string, unknown>>,
  period: Period,
): { cents: number } | { rejected: RejectionReason } => {
  if (typeof tx.id !== 'string' || tx.id === '') return { rejected: 'invalid_row' };
  if (typeof tx.date !== 'string' || !isCalendarDate(tx.date)) return { rejected: 'invalid_date' };
  if (tx.date < period.from || tx.date > period.to) return { rejected: 'outside_period' };
  const cents = typeof tx.amount === 'number' ? toCents(tx.amount) : undefined;
  if (cents === undefined) return { rejected: 'invalid_amount' };
  if (typeof tx.currency !== 'string' || !isCurrencyCode(tx.currency))
    return { rejected: 'invalid_currency' };
  return { cents };
};

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** An amount as money: rounded to cents like a bank row (toCents), undefined when it is not sane. */
const moneyOf = (value: unknown): number | undefined => {
  const cents = typeof value === 'number' ? toCents(value) : undefined;
  return cents === undefined ? undefined : money(cents);
};

const CREDIT_BANDS: ReadonlySet<unknown> = new Set(['excellent', 'good', 'fair', 'poor', 'very-poor']);

/**
 * The rules a credit report must meet to enter the report: an integer score 300–850, a known band, open
 * accounts and delinquencies as counts, total debt a sane amount (rounded to cents, like every amount).
 * Answers the report with only those fields, or `invalid_credit_report`.
 */
export const checkCreditReport = (
  doc: unknown,
): { credit: CreditReport } | { rejected: 'invalid_credit_report' } => {
  const rejected = { rejected: 'invalid_credit_report' } as const;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return rejected;
  const r = doc as Record<string, unknown>;
  const totalDebt = moneyOf(r.totalDebt);
  if (
    typeof r.score !== 'number' ||
    !Number.isInteger(r.score) ||
    r.score < 300 ||
    r.score > 850 ||
    !CREDIT_BANDS.has(r.band) ||
    !isCount(r.openAccounts) ||
    !isCount(r.delinquencies) ||
    totalDebt === undefined
  )
    return rejected;
  return {
    credit: {
      score: r.score,
      band: r.band as CreditReport['band'],
      openAccounts: r.openAccounts,
      delinquencies: r.delinquencies,
      totalDebt,
    },
  };
};

/**
 * The rules a tax filing must meet: an integer year from 1900 up to the period's last year (a return filed
 * during the period may be for an earlier year; none is for a later one), income and tax paid sane amounts
 * (rounded to cents), an ISO 4217 currency. Answers the filing with only those fields, or
 * `invalid_tax_filing`.
 */
export const checkTaxFiling = (
  doc: unknown,
  period: Period,
): { filing: TaxFiling } | { rejected: 'invalid_tax_filing' } => {
  const rejected = { rejected: 'invalid_tax_filing' } as const;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return rejected;
  const f = doc as Record<string, unknown>;
  const income = moneyOf(f.income);
  const taxPaid = moneyOf(f.taxPaid);
  if (
    typeof f.year !== 'number' ||
    !Number.isInteger(f.year) ||
    f.year < 1900 ||
    f.year > Number(period.to.slice(0, 4)) ||
    income === undefined ||
    taxPaid === undefined ||
    typeof f.currency !== 'string' ||
    !isCurrencyCode(f.currency)
  )
    return rejected;
  return { filing: { year: f.year, income, taxPaid, currency: f.currency } };
};

/** `YYYY-MM` of every month from `from` to `to` inclusive (empty when the period is not ISO dates). */
export const monthsOf = (period: Period): string[] => {
  const start = /^(\d{4})-(\d{2})/.exec(period.from);
  const end = /^(\d{4})-(\d{2})/.exec(period.to);
  if (!start || !end) return [];
  const months: string[] = [];
  let index = Number(start[1]) * 12 + Number(start[2]) - 1;
  const last = Number(end[1]) * 12 + Number(end[2]) - 1;
  // A generous bound: a malformed far-apart period must not produce an endless list.
  for (; index <= last && months.length < 1200; index++) {
    months.push(
      `${String(Math.floor(index / 12)).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`,
    );
  }
  return months;
};

export const finishSummary = (
  acc: SummaryAccumulator,
  context: Readonly<{
    subject: Subject;
    period: Period;
    generatedAt: string;
    credit: CreditReport | null;
    taxFilings: readonly TaxFiling[];
  }>,
): ReportSummary => {
  const months = new Set([...monthsOf(context.period), ...acc.months.keys()]);
  return {
    subject: context.subject,
    period: context.period,
    generatedAt: context.generatedAt,
    currency: acc.currency,
    totals: {
      count: acc.count,
      moneyIn: money(acc.inCents),
      moneyOut: money(acc.outCents),
      net: money(acc.inCents - acc.outCents),
    },
    monthly: [...months].sort().map((month) => {
      const bucket = acc.months.get(month);
      return { month, in: money(bucket?.inCents ?? 0), out: money(bucket?.outCents ?? 0) };
    }),
    spendingByCategory: [...acc.categories]
      .sort(([a, x], [b, y]) => y.outCents - x.outCents || (a < b ? -1 : 1))
      .map(([category, { outCents, count }]) => ({ category, amount: money(outCents), count })),
    otherCurrencies: [...acc.otherCurrencies]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([currency, count]) => ({ currency, count })),
    rejected: {
      count: [...acc.rejected.values()].reduce((a, b) => a + b, 0),
      byReason: Object.fromEntries([...acc.rejected].sort(([a], [b]) => (a < b ? -1 : 1))),
    },
    credit: context.credit,
    taxFilings: [...context.taxFilings].sort((a, b) => a.year - b.year),
  };
};
