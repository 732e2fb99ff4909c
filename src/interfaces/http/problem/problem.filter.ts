import { type ArgumentsHost, Catch, type ExceptionFilter, Inject } from '@nestjs/common';
import type { Request, Response } from 'express';
import { LOGGER, type Logger } from '../../../application/ports/logger.port.js';
import { redactSecrets } from '../../../infrastructure/logging/pino-logger.js';
import { PROBLEM_CONTENT_TYPE } from './problem-details.js';
import { toProblem } from './problem-mapper.js';

/** The one place every error becomes an HTTP response: `application/problem+json`, nothing internal. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    // The path only: a query string may carry a short-lived access token (SSE).
    const instance = (request.originalUrl ?? request.url ?? '').split('?')[0];
    const { problem, serverFault, retryAfterSeconds } = toProblem(exception, instance || undefined);

    if (serverFault) {
      const error = exception instanceof Error ? exception : new Error(String(exception));
      // A known outage that tells the client when to come back (a tenant database down, a full queue) is
      // a warning without a stack: one line per request, not a trace each time.
      const known = retryAfterSeconds !== undefined;
      const fields = {
        method: request.method,
        path: instance,
        err: {
          type: error.name,
          code: (error as { code?: unknown }).code,
          message: redactSecrets(error.message),
          stack: !known && error.stack ? redactSecrets(error.stack) : undefined,
        },
      };
      if (known) this.logger.warn(fields, 'request failed');
      else this.logger.error(fields, 'request failed');
    }

    if (response.headersSent) {
      // A stream (SSE, file) failed half-way: the status is gone, all we can do is end it.
      response.end();
      return;
    }
    if (problem.status === 401) response.setHeader('WWW-Authenticate', 'Bearer');
    if (retryAfterSeconds !== undefined) response.setHeader('Retry-After', String(retryAfterSeconds));
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }
}
