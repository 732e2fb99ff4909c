import { z } from 'zod';
import type { FieldError } from './problem-details.js';

/**
 * What no text input may hold, wherever it comes from (body, path, query, header): U+0000, which
 * PostgreSQL refuses in `text` and `jsonb` (a 500 otherwise), and UTF-16 surrogates that are not part of a
 * pair, which have no UTF-8 form. api.md, Status codes: "No input … ever gets a 500".
 * Returns the message for such a string, or `undefined` when it is storable.
 */
export const textFault = (value: string): string | undefined =>
  value.includes('\u0000') || !value.isWellFormed()
    ? 'must not contain NUL characters or unpaired surrogates'
    : undefined;

/**
 * What a name shown to people (tenant name, description) may not hold on top of that: C0 and C1 control
 * characters (DEL included), the line and paragraph separators U+2028/U+2029 (a line break by another
 * name), the bidirectional formatting characters that reorder how text is displayed (Trojan Source,
 * CVE-2021-42574: U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069, Unicode's `Bidi_Control`), and
 * noncharacters (U+FDD0–U+FDEF and every U+xFFFE/U+xFFFF, never meant for interchange).
 */
const CONTROL_OR_BIDI = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Noncharacter_Code_Point}]/u;

/** The message for a name that holds control or bidirectional formatting characters (or a text fault). */
export const nameFault = (value: string): string | undefined =>
  textFault(value) ??
  (CONTROL_OR_BIDI.test(value) ? 'must not contain control or bidi characters' : undefined);

/** A string every zod schema can start from: storable text (see `textFault`) of at most `max` characters. */
export const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((value) => textFault(value) === undefined, {
      message: 'must not contain NUL characters or unpaired surrogates',
    });

/** A name shown to people: `text` that also refuses control and bidi characters (see `nameFault`). */
export const nameText = (max: number) =>
  text(max).refine((value) => !CONTROL_OR_BIDI.test(value), {
    message: 'must not contain control or bidi characters',
  });

/** Deeper JSON than this is no request Conflux understands; refusing it bounds every later walk. */
export const MAX_JSON_DEPTH = 32;

const fieldName = (path: string, key: string): string => {
  // The field name is echoed in the problem: never echo the offending characters themselves.
  const safe =
    textFault(key) === undefined && !CONTROL_OR_BIDI.test(key) ? key : JSON.stringify(key).slice(1, -1);
  return path ? `${path}.${safe}` : safe;
};

/**
 * Every unstorable string (value or object key) inside a parsed JSON value or a parsed query, named by
 * its dotted path under `root` (the convention of `ZodValidationPipe`: fields of the body are named
 * without a prefix). Walks iteratively, so depth cannot overflow the stack; nesting deeper than
 * `MAX_JSON_DEPTH` is itself a fault. Returns at most `limit` errors.
 */
export const textFaultsIn = (value: unknown, root: string, limit = 20): FieldError[] => {
  const errors: FieldError[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  while (stack.length > 0 && errors.length < limit) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === 'string') {
      const message = textFault(current);
      if (message) errors.push({ field: path || root, message });
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      errors.push({
        field: path || root,
        message: `must not be nested deeper than ${MAX_JSON_DEPTH} levels`,
      });
      continue;
    }
    for (const [key, child] of Object.entries(current)) {
      const message = Array.isArray(current) ? undefined : textFault(key);
      if (message) errors.push({ field: fieldName(path, key), message: `field name ${message}` });
      stack.push({ value: child, path: fieldName(path, key), depth: depth + 1 });
    }
  }
  return errors;
};
