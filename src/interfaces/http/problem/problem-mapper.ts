import { STATUS_CODES } from 'node:http';
import { HttpException, HttpStatus } from '@nestjs/common';
import { DomainError } from '../../../domain/shared/decider.js';
import { DOMAIN_ERROR_STATUS } from './domain-error-status.js';
import { type ProblemDetails, ProblemException, problemType } from './problem-details.js';
import { ValidationFailed } from './validation.js';

export type MappedProblem = Readonly<{
  problem: ProblemDetails;
  /** True when the failure is ours (5xx): it is logged, and its details never reach the client. */
  serverFault: boolean;
  /** Seconds for the `Retry-After` header (429 and 503 answers whose cause knows when to come back). */
  retryAfterSeconds?: number;
}>;

/**
 * A domain error that knows when the client may try again (a lockout, an unreachable tenant database)
 * carries `retryAfterSeconds`; the filter turns it into `Retry-After`.
 */
const retryAfterOf = (exception: DomainError): { retryAfterSeconds?: number } => {
  const seconds = (exception as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0
    ? { retryAfterSeconds: Math.ceil(seconds) }
    : {};
};

const titleOf = (status: number): string => STATUS_CODES[status] ?? 'Error';

const plain = (status: number, detail: string, instance?: string): ProblemDetails => ({
  type: 'about:blank',
  title: titleOf(status),
  status,
  detail,
  ...(instance ? { instance } : {}),
});

const isBodyParserError = (cause: unknown, type: string): boolean =>
  typeof cause === 'object' && cause !== null && (cause as { type?: unknown }).type === type;

/**
 * True when the body parser refused a body that is valid JSON, only not an object or array (`null`,
 * `"x"`, `42`): its strict mode refuses those as unparsable, but the fault is the body's shape, not its
 * syntax. body-parser keeps the raw text on the error as `body`.
 */
const isJsonScalarBody = (cause: unknown): boolean => {
  const body = (cause as { body?: unknown }).body;
  if (typeof body !== 'string') return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
};

const httpDetail = (exception: HttpException): string => {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  if (typeof message === 'string') return message;
  return exception.message;
};

/**
 * Turns anything thrown while handling a request into a problem. Pure, so every branch is unit-tested;
 * the filter only writes the result.
 */
export const toProblem = (exception: unknown, instance?: string): MappedProblem => {
  const at = instance ? { instance } : {};

  if (exception instanceof ValidationFailed) {
    return {
      serverFault: false,
      problem: {
        type: problemType('validation_error'),
        title: 'Invalid request',
        status: HttpStatus.BAD_REQUEST,
        detail: 'One or more fields are invalid.',
        ...at,
        errors: exception.errors,
      },
    };
  }

  if (exception instanceof DomainError) {
    const status = DOMAIN_ERROR_STATUS[exception.code];
    if (status === undefined) return { serverFault: true, problem: internal(instance) };
    return {
      serverFault: status >= 500,
      ...retryAfterOf(exception),
      problem: {
        type: problemType(exception.code),
        title: titleOf(status),
        status,
        detail: exception.message,
        ...at,
        code: exception.code,
      },
    };
  }

  if (exception instanceof ProblemException) {
    const status = exception.getStatus();
    const { type, title, detail, extensions } = exception.problem;
    return {
      serverFault: false,
      problem: {
        ...extensions,
        type: type ?? 'about:blank',
        title: title ?? titleOf(status),
        status,
        detail,
        ...at,
      },
    };
  }

  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    // The router could not decode a path parameter (`/v1/reports/%E0`): the path is the invalid field.
    if (exception.cause instanceof URIError)
      return toProblem(
        new ValidationFailed([{ field: 'path', message: 'is not valid percent-encoded UTF-8' }]),
        instance,
      );
    // Express' body parser errors reach us wrapped by the platform adapter; their text names parser internals.
    if (isBodyParserError(exception.cause, 'entity.parse.failed') && isJsonScalarBody(exception.cause))
      return toProblem(new ValidationFailed([{ field: 'body', message: 'must be an object' }]), instance);
    if (isBodyParserError(exception.cause, 'entity.parse.failed'))
      return {
        serverFault: false,
        problem: {
          type: problemType('malformed_json'),
          title: 'Malformed JSON',
          status: HttpStatus.BAD_REQUEST,
          detail: 'The request body is not valid JSON.',
          ...at,
        },
      };
    if (status === 413)
      return { serverFault: false, problem: plain(413, 'The request body is larger than 1 MiB.', instance) };
    if (status >= 500) return { serverFault: true, problem: plain(status, titleOf(status), instance) };
    return { serverFault: false, problem: plain(status, httpDetail(exception), instance) };
  }

  if (isDatabaseOverloaded(exception))
    return {
      serverFault: true,
      retryAfterSeconds: DATABASE_OVERLOADED_RETRY_AFTER_S,
      problem: {
        type: problemType('database_overloaded'),
        title: titleOf(HttpStatus.SERVICE_UNAVAILABLE),
        status: HttpStatus.SERVICE_UNAVAILABLE,
        detail: 'The database is at its connection limit; try again later.',
        ...at,
        code: 'database_overloaded',
      },
    };

  return { serverFault: true, problem: internal(instance) };
};

/** Seconds a client waits after `database_overloaded`: long enough for idle pools to close a connection. */
const DATABASE_OVERLOADED_RETRY_AFTER_S = 5;

/**
 * True when PostgreSQL refused a connection for load, not for anything in the request: class 53
 * (insufficient resources, 53300 = too many clients), 57P03 (cannot connect now), or pg-pool's wait for a
 * connection timing out. Looks through `cause` (MikroORM and our own wrappers), up to 5 levels. Issue 8
 * item 3: the cluster's `max_connections` is shared (other instances, other clients), so the tenant
 * connection budget alone cannot rule this out; it must be a 503 with `Retry-After`, never a 500.
 */
const isDatabaseOverloaded = (error: unknown, depth = 0): boolean => {
  if (!(error instanceof Error) || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(53...|57P03)$/.test(code)) return true;
  if (/timeout exceeded when trying to connect/i.test(error.message)) return true;
  return isDatabaseOverloaded(error.cause, depth + 1);
};

const internal = (instance?: string): ProblemDetails =>
  plain(HttpStatus.INTERNAL_SERVER_ERROR, 'An unexpected error occurred.', instance);
