import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../application/ports/logger.port.js';

/** An incoming `X-Request-Id` is kept only if it is short printable ASCII (no spaces, quotes or controls). */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:/+=-]{1,128}$/;

type RoutedRequest = IncomingMessage & {
  id?: unknown;
  route?: { path?: unknown };
  baseUrl?: string;
  user?: { tenantId?: unknown };
};

/**
 * The route pattern that served the request (`/v1/reports/:id`), never the raw URL: a URL's query may
 * carry an `access_token`, and ids in paths are not worth a cardinality explosion. A request no route
 * matched (404, 405) is logged as `null`.
 */
export const routeOf = (request: IncomingMessage): string | null => {
  const req = request as RoutedRequest;
  const path = req.route?.path;
  return typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : null;
};

/** The request id: the caller's `X-Request-Id` when it is sane, else a new UUID; echoed on the response. */
const requestIdOf = (req: IncomingMessage, res: ServerResponse): string => {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
};

/**
 * Express middleware writing ONE line per request to the one logger, when the response finishes or the
 * client goes away: `{ requestId, method, route, status, durationMs, tenantId?, aborted? }`, level `error`
 * for a 5xx, else `info`. Nothing else of the request is logged — no headers (Authorization, cookies), no
 * query string (`access_token`) — so secrets are left out by construction, not by a list. (pino-http was
 * tried: it binds the raw request to a child logger, and the logger's wildcard redaction then walks the
 * request's getters and throws.)
 */
export const requestLogger = (logger: Logger) => {
  const log = logger.child({ component: 'http' });
  return (req: RoutedRequest, res: ServerResponse, next: () => void): void => {
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(req, res);
    req.id = requestId;
    let logged = false;
    const done = (): void => {
      if (logged) return;
      logged = true;
      const fields = {
        requestId,
        method: req.method,
        route: routeOf(req),
        status: res.statusCode,
        durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        tenantId: typeof req.user?.tenantId === 'string' ? req.user.tenantId : undefined,
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      // The same message at every status: the level tells 5xx apart; the cause, if ours, is the problem
      // filter's own 'request failed' line.
      if (res.statusCode >= 500) log.error(fields, 'request');
      else log.info(fields, 'request');
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
};
