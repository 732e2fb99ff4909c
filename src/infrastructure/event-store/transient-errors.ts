import { TenantConnectionsExhausted, TenantDatabaseUnavailable } from '../../domain/tenant/tenant.errors.js';

/**
 * True for an error that says nothing about the event being handled: the database (control or tenant) is
 * unreachable or overloaded, the connection was lost, a serialisation conflict, or the schema is not what
 * the code expects (a deploy or migration problem, which every event would hit). A subscription retries
 * these with backoff but never parks an event for them; data errors (classes 22, 23) and the handler's
 * own errors do count against the event.
 * Also transient: the tenancy layer's own "come back later" answers — `TenantDatabaseUnavailable` (the
 * tenant's database is in an outage) and `TenantConnectionsExhausted` (the process's connection budget is
 * spent) — and any error whose `cause` (or an AggregateError's `errors`, up to 5 levels) is transient, as
 * drivers and ORMs wrap the socket or server error. Without these, a tenant projection parked and skipped
 * good events during a tenant outage or a connection peak (issue 8, items 2 and 3).
 * Source: PostgreSQL error codes, appendix A (classes 08, 3D, 3F, 40, 42, 53, 55, 57, 58) and Node's
 * socket errors.
 */
export const isTransientDatabaseError = (error: unknown, depth = 0): boolean => {
  if (!(error instanceof Error) || depth > 5) return false;
  if (error instanceof TenantDatabaseUnavailable || error instanceof TenantConnectionsExhausted) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(08|3D|3F|40|42|53|55|57|58)/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/.test(code))
      return true;
  }
  if (
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      error.message,
    )
  )
    return true;
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.some((inner) => isTransientDatabaseError(inner, depth + 1)))
    return true;
  return isTransientDatabaseError(error.cause, depth + 1);
};
