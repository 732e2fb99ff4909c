import type { CreditReport, Period, TaxFiling, TaxFilings } from '../../domain/report/provider-data.js';

/**
 * Deterministic fake provider data. Everything is a pure function of (seed, subject, period): the same
 * input gives the same bytes on every machine and after every restart, which is what lets tests and
 * benchmarks compare hashes and lets a client page or resume a stream.
 *
 * Bank rows are random-access: row `i` is derived from (stream key, i) alone, never from row `i - 1`'s
 * PRNG state. That makes `?offset=` paging O(page) instead of O(offset) and guarantees that the pages
 * concatenated are byte-identical to the unpaged stream.
 */

/** murmur3's finaliser: every input bit reaches every output bit, so neighbouring row indexes look unrelated. */
export const fmix32 = (value: number): number => {
  let x = value;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
};

/** FNV-1a over the UTF-16 code units, finalised: a stable 32-bit key for a string. */
export const hash32 = (text: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
};

/** mulberry32: a 32-bit state PRNG, fast and plenty random for fake data. Returns floats in [0, 1). */
export const mulberry32 = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const INV_2_32 = 1 / 4294967296;
const GOLDEN = 0x9e3779b1;

/** Signed cents → `-12.30`. Integer arithmetic: `toFixed` is several times slower and this runs per row. */
export const formatCents = (cents: number): string => {
  const negative = cents < 0;
  const abs = negative ? -cents : cents;
  const whole = Math.floor(abs / 100);
  const fraction = abs - whole * 100;
  return (negative ? '-' : '') + whole + (fraction < 10 ? '.0' : '.') + fraction;
};

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;
/** Ten years and a bit: bounds the per-stream date table and keeps a typo like 0202 from asking for 1,800 years. */
export const MAX_PERIOD_DAYS = 3660;

/** Milliseconds since the epoch of a valid calendar date `YYYY-MM-DD`, else undefined. */
export const parseDay = (text: string): number | undefined => {
  const match = DATE_RE.exec(text);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const date = new Date(ms);
  // Date.UTC rolls 2025-02-30 over to March: a round trip rejects days that do not exist.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return undefined;
  }
  return ms;
};

/** Why a period is unusable, or undefined when it is fine. */
export const periodProblem = (period: Period): { field: string; message: string } | undefined => {
  const from = parseDay(period.from);
  if (from === undefined) return { field: 'period.from', message: 'must be a calendar date YYYY-MM-DD' };
  const to = parseDay(period.to);
  if (to === undefined) return { field: 'period.to', message: 'must be a calendar date YYYY-MM-DD' };
  if (to < from) return { field: 'period.to', message: 'must not be before period.from' };
  if ((to - from) / DAY_MS + 1 > MAX_PERIOD_DAYS) {
    return { field: 'period.to', message: `the period may span at most ${MAX_PERIOD_DAYS} days` };
  }
  return undefined;
};

export const TAX_ID_RE = /^[A-Za-z0-9-]{1,64}$/;

type Merchant = Readonly<{ name: string; description: string }>;
type Kind = Readonly<{
  category: string;
  /** Signed: negative kinds are spending. */
  sign: 1 | -1;
  minCents: number;
  maxCents: number;
  /** Share of the non-salary, non-rent rows, out of 1024. */
  weight: number;
  /** Paid by card: some of these rows land on the credit-card account. */
  card: boolean;
  merchants: readonly Merchant[];
}>;

const card = (names: string[]): Merchant[] =>
  names.map((name) => ({ name, description: `Card payment ${name}` }));
const debit = (names: string[]): Merchant[] =>
  names.map((name) => ({ name, description: `Direct debit ${name}` }));

const KINDS: readonly Kind[] = [
  {
    category: 'groceries',
    sign: -1,
    minCents: 350,
    maxCents: 18_000,
    weight: 280,
    card: true,
    merchants: card(['Lidl', 'Aldi', 'Carrefour', 'Tesco', 'Whole Foods Market', 'Farmers Market']),
  },
  {
    category: 'restaurants',
    sign: -1,
    minCents: 450,
    maxCents: 9_000,
    weight: 130,
    card: true,
    merchants: card(['Pizzeria Napoli', 'Sushi Ko', 'The Corner Cafe', 'Burger Hut', 'Thai Orchid']),
  },
  {
    category: 'transport',
    sign: -1,
    minCents: 180,
    maxCents: 12_000,
    weight: 150,
    card: true,
    merchants: card(['City Metro', 'Shell', 'BP', 'Uber', 'National Rail']),
  },
  {
    category: 'shopping',
    sign: -1,
    minCents: 800,
    maxCents: 40_000,
    weight: 130,
    card: true,
    merchants: card(['Amazon', 'IKEA', 'Zara', 'MediaMarkt', 'Decathlon']),
  },
  {
    category: 'utilities',
    sign: -1,
    minCents: 2_000,
    maxCents: 16_000,
    weight: 60,
    card: false,
    merchants: debit(['City Power', 'AquaWater', 'FiberNet Broadband', 'Mobile One']),
  },
  {
    category: 'health',
    sign: -1,
    minCents: 900,
    maxCents: 25_000,
    weight: 50,
    card: true,
    merchants: card(['Central Pharmacy', 'Dr. Meyer Dental', 'FitLife Gym']),
  },
  {
    category: 'entertainment',
    sign: -1,
    minCents: 499,
    maxCents: 6_000,
    weight: 80,
    card: true,
    merchants: card(['Netflix', 'Spotify', 'Cinema Paradiso', 'Steam']),
  },
  {
    category: 'transfers',
    sign: -1,
    minCents: 1_000,
    maxCents: 80_000,
    weight: 84,
    card: false,
    merchants: ['Savings account', 'J. Smith', 'M. Garcia'].map((name) => ({
      name,
      description: `Transfer to ${name}`,
    })),
  },
  {
    category: 'transfers',
    sign: 1,
    minCents: 1_000,
    maxCents: 60_000,
    weight: 60,
    card: false,
    merchants: ['Savings account', 'J. Smith', 'M. Garcia', 'Tax refund'].map((name) => ({
      name,
      description: `Transfer from ${name}`,
    })),
  },
];

const EMPLOYERS = [
  'Acme Corp',
  'Globex Ltd',
  'Initech',
  'Umbrella Health',
  'Stark Industries',
  'City Council',
];
const LANDLORDS = ['Oak Street Properties', 'Riverside Housing', 'Maple Lettings', 'Harbour Homes'];

const jsonText = (text: string): string => JSON.stringify(text).slice(1, -1);

/** The tail of a row from `description` on, fixed per merchant, so a row costs a handful of concatenations. */
const rowTail = (merchant: Merchant, category: string): string =>
  `","description":"${jsonText(merchant.description)}","counterparty":"${jsonText(merchant.name)}","category":"${category}"}\n`;

/** 1024-slot lookup: a row's kind is one table read instead of a weighted search. */
const KIND_TABLE: readonly number[] = KINDS.flatMap((kind, index) => Array<number>(kind.weight).fill(index));
if (KIND_TABLE.length !== 1024) throw new Error('simulator kind weights must add up to 1024');
const KIND_TAILS: readonly (readonly string[])[] = KINDS.map((kind) =>
  kind.merchants.map((m) => rowTail(m, kind.category)),
);

/** A subject's stable traits: every provider derives from the same profile, so bank salary and tax income agree. */
export type SubjectProfile = Readonly<{
  key: number;
  monthlySalaryCents: number;
  rentCents: number;
  employer: string;
  landlord: string;
  checkingAccount: string;
  cardAccount: string;
  currency: string;
}>;

const hex8 = (value: number): string => value.toString(16).padStart(8, '0');

export const subjectProfile = (seed: number, taxId: string): SubjectProfile => {
  const key = hash32(`${seed}\u0000${taxId}`);
  const random = mulberry32(key);
  const monthlySalaryCents = Math.round(180_000 + random() * 720_000);
  return {
    key,
    monthlySalaryCents,
    rentCents: Math.round(monthlySalaryCents * (0.22 + random() * 0.16)),
    employer: EMPLOYERS[Math.floor(random() * EMPLOYERS.length)],
    landlord: LANDLORDS[Math.floor(random() * LANDLORDS.length)],
    checkingAccount: `acc-${hex8(fmix32(key ^ 0x1))}`,
    cardAccount: `acc-${hex8(fmix32(key ^ 0x2))}`,
    currency: 'EUR',
  };
};

export type TransactionSource = Readonly<{
  /** Exactly this many rows, whatever the period. */
  total: number;
  /** NDJSON lines for rows [start, end), one `\n`-terminated Transaction each. */
  lines: (start: number, end: number) => string;
}>;

/**
 * The bank statement of one subject over one period. Dates are non-decreasing and spread evenly over
 * the period; the first row of each month is the salary and the second the rent, the rest is weighted
 * everyday spending plus some transfers in both directions.
 */
export const transactionSource = (
  seed: number,
  taxId: string,
  period: Period,
  total: number,
): TransactionSource => {
  const problem = periodProblem(period);
  if (problem) throw new RangeError(`${problem.field} ${problem.message}`);
  const fromMs = parseDay(period.from)!;
  const days = (parseDay(period.to)! - fromMs) / DAY_MS + 1;
  const dates: string[] = [];
  const months: number[] = [];
  for (let d = 0; d < days; d++) {
    const date = new Date(fromMs + d * DAY_MS);
    dates.push(date.toISOString().slice(0, 10));
    months.push(date.getUTCFullYear() * 12 + date.getUTCMonth());
  }
  const profile = subjectProfile(seed, taxId);
  const streamKey = hash32(`${profile.key}\u0000${period.from}\u0000${period.to}`);
  const idPrefix = `{"id":"tx-${hex8(streamKey)}-`;
  const checking = `","accountId":"${profile.checkingAccount}","date":"`;
  const cardAccount = `","accountId":"${profile.cardAccount}","date":"`;
  const amountKey = '","amount":';
  const currency = `,"currency":"${profile.currency}`;
  const salaryTail = rowTail({ name: profile.employer, description: `Salary ${profile.employer}` }, 'salary');
  const rentTail = rowTail({ name: profile.landlord, description: `Rent ${profile.landlord}` }, 'rent');
  const salary = formatCents(profile.monthlySalaryCents);
  const rent = formatCents(-profile.rentCents);
  // Row i falls on day floor(i·days/total): non-decreasing, first row on the first day, spread to the last.
  const dayOf = (i: number): number => Math.floor((i * days) / total);
  const startsMonth = (i: number): boolean => i === 0 || months[dayOf(i - 1)] !== months[dayOf(i)];

  const lines = (start: number, end: number): string => {
    let out = '';
    const stop = Math.min(end, total);
    for (let i = Math.max(0, start); i < stop; i++) {
      const day = dayOf(i);
      const head = idPrefix + i;
      if (startsMonth(i)) {
        out += head + checking + dates[day] + amountKey + salary + currency + salaryTail;
        continue;
      }
      if (startsMonth(i - 1) && months[dayOf(i - 1)] === months[day]) {
        out += head + checking + dates[day] + amountKey + rent + currency + rentTail;
        continue;
      }
      const r1 = fmix32(streamKey ^ Math.imul(i + 1, GOLDEN));
      const r2 = fmix32(r1 + 0x6d2b79f5);
      const kind = KINDS[KIND_TABLE[r1 & 1023]];
      const tails = KIND_TAILS[KIND_TABLE[r1 & 1023]];
      // Squaring skews amounts towards the cheap end, as real spending is.
      const u = r2 * INV_2_32;
      const cents = kind.minCents + Math.floor(u * u * (kind.maxCents - kind.minCents));
      const account = kind.card && (r1 >>> 10) % 5 < 2 ? cardAccount : checking;
      out +=
        head +
        account +
        dates[day] +
        amountKey +
        formatCents(kind.sign * cents) +
        currency +
        tails[(r1 >>> 16) % tails.length];
    }
    return out;
  };
  return { total, lines };
};

const BANDS: readonly [number, CreditReport['band']][] = [
  [750, 'excellent'],
  [700, 'good'],
  [650, 'fair'],
  [550, 'poor'],
  [300, 'very-poor'],
];

export const creditBand = (score: number): CreditReport['band'] => BANDS.find(([min]) => score >= min)![1];

/** A credit snapshot depends on the subject alone: bureaus report the current state, not a period. */
export const creditReport = (seed: number, taxId: string): CreditReport => {
  const profile = subjectProfile(seed, taxId);
  const random = mulberry32(fmix32(profile.key ^ 0xc0ffee));
  // The mean of two uniforms clusters scores in the middle of the range, like real score distributions.
  const score = Math.round(300 + ((random() + random()) / 2) * 550);
  const risk = (850 - score) / 550;
  return {
    score,
    band: creditBand(score),
    openAccounts: 1 + Math.floor(random() * 9),
    delinquencies: Math.floor(risk * risk * random() * 6),
    totalDebt: Math.round(random() * profile.monthlySalaryCents * 40) / 100,
  };
};

/** One filing per calendar year the period touches; income follows the subject's salary. */
export const taxFilings = (seed: number, taxId: string, period: Period): TaxFilings => {
  const profile = subjectProfile(seed, taxId);
  const fromYear = Number(period.from.slice(0, 4));
  const toYear = Number(period.to.slice(0, 4));
  const filings: TaxFiling[] = [];
  for (let year = fromYear; year <= toYear; year++) {
    const random = mulberry32(fmix32(profile.key ^ Math.imul(year, GOLDEN)));
    const incomeCents = Math.round(profile.monthlySalaryCents * 12 * (0.97 + random() * 0.12));
    const rate = 0.18 + (incomeCents / 100 / 110_000) * 0.14 + random() * 0.02;
    filings.push({
      year,
      income: incomeCents / 100,
      taxPaid: Math.round(incomeCents * rate) / 100,
      currency: profile.currency,
    });
  }
  return { filings };
};
