/** Socket-level errors: the server is not there, or the path to it is broken. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * SQLSTATEs that say "this server cannot serve you now" rather than "your query is wrong":
 * class 08 (connection exception), class 28 (the server refuses the login: a role that may no longer log
 * in, a changed password — raised only while connecting), 57P01–57P03 (shutdown, crash recovery,
 * starting up), 53300 (too many connections), 3D000 (the database is gone, e.g. dropped or not yet
 * restored).
 */
const SQLSTATE = /^(08...|28...|57P0[123]|53300|3D000)$/;

/**
 * pg and pg-pool's messages for a connection lost or never made (they carry no code), and the server's
 * refusals of a new connection whose SQLSTATE other statements share: 55000 "database … is not currently
 * accepting connections" (`ALLOW_CONNECTIONS false`).
 */
const MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|server closed the connection|is not currently accepting connections/i;

/** 42501 "permission denied for database" at connect time says why in its detail (CONNECT revoked). */
const DETAILS = /does not have CONNECT privilege/i;

/**
 * True when `error` (or anything it wraps: `cause`, an AggregateError's `errors`, MikroORM's
 * DriverException which copies the driver error's fields) says the database could not be reached,
 * as opposed to a failing statement. Source of the codes: PostgreSQL's errcodes appendix and Node's
 * `net` errors.
 */
export const isConnectionFailure = (error: unknown, depth = 0): boolean => {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, message, detail, cause, errors } = error as {
    code?: unknown;
    message?: unknown;
    detail?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATE.test(code))) return true;
  if (typeof message === 'string' && MESSAGES.test(message)) return true;
  if (typeof detail === 'string' && DETAILS.test(detail)) return true;
  if (Array.isArray(errors) && errors.some((e) => isConnectionFailure(e, depth + 1))) return true;
  return isConnectionFailure(cause, depth + 1);
};
