import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import type { FieldError } from './problem-details.js';

/** Input that does not satisfy its schema; the problem filter answers it with 400 and `errors`. */
export class ValidationFailed extends Error {
  constructor(readonly errors: readonly FieldError[]) {
    super(`Invalid input: ${errors.map((e) => e.field).join(', ')}`);
    this.name = 'ValidationFailed';
  }
}

const fieldErrors = (error: z.ZodError, root: string): FieldError[] =>
  error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    // Unknown keys are reported by the parent; name each offending key instead.
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({ field: path ? `${path}.${key}` : key, message: 'Unknown field' }));
    return [{ field: path || root, message: issue.message }];
  });

/** Parses `value` with a zod schema, or throws `ValidationFailed` naming every bad field. */
export const parse = <S extends z.ZodType>(schema: S, value: unknown, root = 'body'): z.output<S> => {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationFailed(fieldErrors(result.error, root));
  return result.data;
};

/**
 * The one way controllers validate input: `@Body(new ZodValidationPipe(schema)) body: z.output<typeof schema>`
 * (also for `@Query()` and `@Param()`). The handler receives the parsed, typed value.
 */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown, metadata: ArgumentMetadata): z.output<S> {
    const root = metadata.data ?? metadata.type;
    return parse(this.schema, value, root);
  }
}
