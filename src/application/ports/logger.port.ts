import type { Logger as PinoLogger } from 'pino';

/**
 * The one logger of the process (pino, JSON lines). Inject it with `@Inject(LOGGER)`; add context with
 * `logger.child({ tenantId, reportId })`. Never pass tokens, passwords, hashes, tax IDs or connection
 * strings: the redaction in the adapter is a safety net, not the policy.
 */
export const LOGGER = Symbol('Logger');

export type Logger = PinoLogger;
