import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream } from 'pino';
import type { Logger } from '../../application/ports/logger.port.js';

/** Keys whose values never reach a log line, wherever they appear (one or two levels deep). */
const SECRET_KEYS = [
  'password',
  'passwordHash',
  'token',
  'accessToken',
  'authorization',
  'databaseUrl',
  'connectionString',
  'secret',
];

export const createLogger = (level: string, destination?: DestinationStream): Logger =>
  pino(
    {
      level,
      base: { service: 'conflux' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
        censor: '[redacted]',
      },
    },
    destination,
  );

/**
 * Masks secrets that may hide inside free text (driver error messages carry SQL with its parameters,
 * URLs carry passwords): connection-string credentials, scrypt hashes and bearer tokens.
 */
export const redactSecrets = (text: string): string =>
  text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@'"]*@/gi, '$1[redacted]@')
    .replace(/\$scrypt\$[^\s'",)]+/g, '[redacted-hash]')
    .replace(/\bBearer\s+[\w.~+/-]+=*/gi, 'Bearer [redacted]')
    .replace(/\beyJ[\w-]+\.[\w-]+\.[\w-]+/g, '[redacted-jwt]');

/** Nest's own messages go through the same pino logger (one logger, one format). */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace',
    message: unknown,
    params: unknown[],
  ): void {
    // Nest passes the context (class name) as the last string parameter, and a stack before it on errors.
    const strings = params.filter((p): p is string => typeof p === 'string');
    const context = strings.at(-1);
    const stack = level === 'error' || level === 'fatal' ? strings.at(-2) : undefined;
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (stack) fields.stack = redactSecrets(stack);
    if (message instanceof Error) {
      fields.err = { type: message.name, message: redactSecrets(message.message) };
      this.logger[level](fields, redactSecrets(message.message));
    } else if (typeof message === 'string') {
      this.logger[level](fields, redactSecrets(message));
    } else {
      this.logger[level]({ ...fields, detail: message }, '');
    }
  }
}
