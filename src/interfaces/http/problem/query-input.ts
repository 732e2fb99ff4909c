import { z } from 'zod';

/** A whole number as a query string writes it: decimal digits only (no sign, point, exponent or `0x`). */
const DECIMAL = /^\d{1,16}$/;

const decimalOrAsIs = (value: unknown): unknown =>
  typeof value === 'string' && DECIMAL.test(value) ? Number(value) : value;

/**
 * A whole-number query parameter between `min` and `max`, `fallback` when absent: `?limit=20`. Only
 * decimal digits are read as a number — `z.coerce.number()` took `0x10` as 16, `1e1` as 10 and ` 5` as 5,
 * and an array (`?limit=1&limit=2`) through `Number()`; anything else is 400 "must be a whole number".
 * Documented in OpenAPI as an integer with its bounds and default.
 */
export const queryInteger = (min: number, max: number, fallback: number) =>
  z.preprocess(
    decimalOrAsIs,
    z
      .number('must be a whole number')
      .int('must be a whole number')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`)
      .default(fallback),
  );
