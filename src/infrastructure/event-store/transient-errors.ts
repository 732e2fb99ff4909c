/**
 * True for an error that says nothing about the event being handled: the database (control or tenant) is
 * unreachable or overloaded, the connection was lost, a serialisation conflict. A subscription retries
 * these with backoff but never parks an event for them.
 * Source: PostgreSQL error codes, appendix A (classes 08, 40, 53, 57) and Node's socket errors.
 */
export const isTransientDatabaseError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(08|40|53|57)/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/.test(code))
      return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    error.message,
  );
};
