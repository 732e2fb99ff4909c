import { HttpException } from '@nestjs/common';

/** RFC 9457 problem details: the body of every error response. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export type FieldError = Readonly<{ field: string; message: string }>;

export type ProblemDetails = Readonly<{
  type: string;
  title: string;
  /** Always equal to the HTTP status of the response. */
  status: number;
  detail: string;
  instance?: string;
  /** Validation failures, one per field (dotted path, e.g. `admin.password`). */
  errors?: readonly FieldError[];
  /** Machine-readable code of a domain error (the same as the last segment of `type`). */
  code?: string;
  [extension: string]: unknown;
}>;

/**
 * Problem types specific to Conflux. URNs rather than invented web addresses: stable identifiers that
 * do not pretend to resolve. Plain HTTP failures use `about:blank`, as RFC 9457 suggests.
 */
export const problemType = (code: string): string => `urn:conflux:problem:${code.replaceAll('_', '-')}`;

/**
 * An HTTP error that already knows its problem body (e.g. readiness naming the failing dependency).
 * Extensions are added beside the standard members; they must hold no secret.
 */
export class ProblemException extends HttpException {
  constructor(
    status: number,
    readonly problem: Readonly<{
      type?: string;
      title?: string;
      detail: string;
      extensions?: Record<string, unknown>;
    }>,
  ) {
    super(problem.detail, status);
    this.name = 'ProblemException';
  }
}
