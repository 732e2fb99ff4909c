/**
 * Text of the printed summary: money, counts, dates and the masked subject. Every function is pure and
 * locale-fixed (en-GB dates, en-US numbers), so the same summary always prints the same characters.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/**
 * A tax ID as it may be printed: never in full. Only its last characters show (at most 4, and at most
 * half of it), after a fixed-length mask that does not reveal its length: `DE123456789` → `••••6789`.
 */
export const maskTaxId = (taxId: string): string =>
  `••••${taxId.slice(taxId.length - Math.min(4, Math.floor(taxId.length / 2)))}`;

/** A finite number, or undefined for anything else a provider may have sent in its place. */
export const finite = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

const currencyFormats = new Map<string, Intl.NumberFormat>();
const plainMoney = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

const currencyFormat = (currency: string): Intl.NumberFormat | undefined => {
  let format = currencyFormats.get(currency);
  if (format === undefined) {
    try {
      format = new Intl.NumberFormat('en-US', { style: 'currency', currency, currencyDisplay: 'code' });
    } catch {
      return undefined; // not a currency code (tax filings carry the provider's text as is)
    }
    currencyFormats.set(currency, format);
  }
  return format;
};

/**
 * An amount with its currency code, two decimals and thousands separators: `EUR 1,234.50`; `—` when
 * it is not a number. An unknown currency text is printed after the number (`1,234.50 XYZ1`).
 */
export const formatMoney = (amount: unknown, currency: string | null): string => {
  const value = finite(amount);
  if (value === undefined) return '—';
  const format = currency === null ? undefined : currencyFormat(currency);
  if (format) return format.format(value).replace(/\u00a0/g, ' ');
  return currency === null
    ? plainMoney.format(value)
    : `${plainMoney.format(value)} ${printable(currency, 8)}`;
};

/** A count with thousands separators; `—` when it is not a number. */
export const formatCount = (count: unknown): string => {
  const value = finite(count);
  return value === undefined ? '—' : integer.format(value);
};

/** A short axis label: `12.5K`, `3M`. */
export const formatCompact = (value: number): string => compact.format(value);

/** `2025-03-07` → `7 Mar 2025`; other text as is. */
export const formatDate = (date: string): string => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const month = match ? MONTHS[Number(match[2]) - 1] : undefined;
  return match && month ? `${Number(match[3])} ${month} ${match[1]}` : printable(date, 32);
};

/** `2025-03` → `Mar 2025`. */
export const formatMonth = (month: string): string => {
  const name = MONTHS[Number(month.slice(5, 7)) - 1];
  return name ? `${name} ${month.slice(0, 4)}` : printable(month, 16);
};

/** `2025-03` → `Mar`. */
export const monthName = (month: string): string => MONTHS[Number(month.slice(5, 7)) - 1] ?? '?';

/** An ISO instant → `30 Nov 2026, 12:46 UTC`. */
export const formatInstant = (iso: string): string => {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return printable(iso, 32);
  const time = at.toISOString();
  return `${formatDate(time.slice(0, 10))}, ${time.slice(11, 16)} UTC`;
};

/**
 * Provider text made safe to print on one line: control characters (and line or paragraph separators)
 * become spaces, runs of blanks one space, and it is cut to `max` characters (by code point).
 */
export const printable = (text: unknown, max: number): string => {
  const clean = String(text)
    .replace(/[\p{Cc}\u2028\u2029]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...clean];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : clean;
};
