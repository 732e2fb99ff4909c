/**
 * The period a report may cover, checked when it is requested rather than discovered later as a provider's
 * 400 (api.md, Bodies: "A period has `from` ≤ `to` ≤ today (UTC) and spans at most 3,660 days").
 */

/** The longest period the providers serve, in days counted inclusively (`from` and `to` both count). */
export const MAX_PERIOD_DAYS = 3660;

export type PeriodViolation = Readonly<{ field: 'from' | 'to'; message: string }>;

const DAY_MS = 86_400_000;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * The earliest year a period may touch. No provider keeps records from before it, and JavaScript's
 * `Date.UTC` (which the providers' reference, the bundled simulator, uses) maps years 0–99 to 1900–1999.
 */
export const MIN_PERIOD_YEAR = 1900;

const NOT_A_DATE = `must be a calendar date YYYY-MM-DD, ${MIN_PERIOD_YEAR} or later`;

/**
 * Days since 1970-01-01 of a real calendar date written `YYYY-MM-DD` (Gregorian, years
 * {@link MIN_PERIOD_YEAR}–9999), or `undefined` for anything else — `2025-02-30` and `2025-13-01` included.
 */
export const calendarDay = (date: string): number | undefined => {
  const match = ISO_DATE.exec(date);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < MIN_PERIOD_YEAR || month < 1 || month > 12 || day < 1) return undefined;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  // Date rolls 2025-02-30 over into March: a date that does not come back unchanged does not exist.
  if (utc.getUTCFullYear() !== year || utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day)
    return undefined;
  return Math.floor(utc.getTime() / DAY_MS);
};

/**
 * What is wrong with a requested period, one violation per field (none: the period is valid).
 *
 * @param period both dates `YYYY-MM-DD`, as the client sent them.
 * @param today the current UTC date `YYYY-MM-DD` (the caller reads the clock; the domain has none).
 * Rules: both are calendar dates; `from` ≤ `to`; `to` ≤ today; `to − from + 1` ≤ {@link MAX_PERIOD_DAYS}.
 */
export const periodViolations = (
  period: Readonly<{ from: string; to: string }>,
  today: string,
): PeriodViolation[] => {
  const from = calendarDay(period.from);
  const to = calendarDay(period.to);
  const now = calendarDay(today);
  if (now === undefined) throw new RangeError(`today must be a calendar date YYYY-MM-DD, got ${today}`);
  const violations: PeriodViolation[] = [];
  if (from === undefined) violations.push({ field: 'from', message: NOT_A_DATE });
  if (to === undefined) violations.push({ field: 'to', message: NOT_A_DATE });
  else if (to > now) violations.push({ field: 'to', message: `must not be after today (${today}, UTC)` });
  if (from === undefined || to === undefined) return violations;
  if (from > to) violations.push({ field: 'from', message: 'must not be after period.to' });
  else if (to - from + 1 > MAX_PERIOD_DAYS)
    violations.push({ field: 'from', message: `the period must span at most ${MAX_PERIOD_DAYS} days` });
  return violations;
};

/** Today's UTC date `YYYY-MM-DD` of an instant (for callers that hold a clock). */
export const utcDate = (instant: Date): string => instant.toISOString().slice(0, 10);
