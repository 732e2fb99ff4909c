import type { LoggerService } from '@nestjs/common';
import { isSpanContextValid, trace } from '@opentelemetry/api';
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

/** Every string inside a serialized value through `redactSecrets`, a few levels deep (cycles stop there). */
const redactDeep = (value: unknown, depth = 0): unknown => {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, depth + 1)]));
};

/**
 * The error serializer of the one logger (`err` and `error` fields, and an Error logged as the first
 * argument): pino's standard one (type, message and stack with their causes, enumerable properties such as
 * a driver's `detail`), then every string in it through `redactSecrets`. So an error is redacted wherever
 * it is logged — a connection string in a driver's message never reaches a log line.
 */
export const serializeError = (error: unknown): unknown =>
  redactDeep(pino.stdSerializers.err(error as Error));

/**
 * `trace_id` and `span_id` of the active span, so a log line leads to its trace (and a trace to its
 * lines); nothing when no span is active — always the case with tracing off.
 */
export const traceFields = (): Record<string, string> => {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext)
    ? { trace_id: spanContext.traceId, span_id: spanContext.spanId }
    : {};
};

export const createLogger = (level: string, destination?: DestinationStream): Logger =>
  pino(
    {
      level,
      mixin: traceFields,
      base: { service: 'conflux' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        // The message too: an Error logged alone becomes its own message, and messages are free text.
        logMethod(args, method) {
          const [first, second, ...rest] = args as unknown[];
          if (first instanceof Error && typeof second !== 'string')
            return method.apply(this, [first, redactSecrets(first.message)] as never);
          if (typeof first === 'string')
            return method.apply(this, [redactSecrets(first), ...args.slice(1)] as never);
          if (typeof second === 'string')
            return method.apply(this, [first, redactSecrets(second), ...rest] as never);
          return method.apply(this, args);
        },
      },
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
