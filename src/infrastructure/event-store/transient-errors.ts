/**
 * True for an error that says nothing about the event being handled: the database (control or tenant) is
 * unreachable or overloaded, the connection was lost, a serialisation conflict, or the schema is not what
 * the code expects (a deploy or migration problem, which every event would hit). A subscription retries
 * these with backoff but never parks an event for them; data errors (classes 22, 23) and the handler's
 * own errors do count against the event.
 * Source: PostgreSQL error codes, appendix A (classes 08, 3D, 3F, 40, 42, 53, 55, 57, 58) and Node's
 * socket errors.
 */
export const isTransientDatabaseError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(08|3D|3F|40|42|53|55|57|58)/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/.test(code))
      return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    error.message,
  );
};
