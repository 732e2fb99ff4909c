import { type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import { ProblemException, problemType } from './problem-details.js';
import { textFaultsIn } from './text-input.js';
import { ValidationFailed } from './validation.js';

/*
 * The checks every request passes before any controller sees it. Each one answers through the one problem
 * filter (Nest routes an error passed to `next` there), so whatever they refuse is problem+json too.
 */

/**
 * Media types read as a JSON body: `application/json` (any parameters, e.g. `charset=utf-8`) and, for
 * PATCH, JSON Merge Patch (RFC 7396), whose body is JSON as well.
 */
export const JSON_MEDIA_TYPES = ['application/json', 'application/merge-patch+json'] as const;

const mediaTypeOf = (contentType: string | undefined): string | undefined =>
  contentType?.split(';', 1)[0]?.trim().toLowerCase() || undefined;

const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** The `charset` parameter of a content type, lower-cased and unquoted, or `undefined` when it has none. */
const charsetOf = (contentType: string | undefined): string | undefined =>
  /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '')?.[1]?.toLowerCase();

/**
 * Whether a request with this content type and method may send a body: `application/json` (any
 * parameters) or, for PATCH, `application/merge-patch+json` — in UTF-8, the only encoding JSON is exchanged
 * in (RFC 8259 §8.1), so a `charset` other than `utf-8` is refused too rather than decoded into garbage.
 * Pure, for the unit tests. api.md, Status codes: "415 a body that is not `application/json`".
 */
export const acceptsBodyOf = (contentType: string | undefined, method: string): boolean => {
  const type = mediaTypeOf(contentType);
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return false;
  return type === 'application/json' || (type === 'application/merge-patch+json' && method === 'PATCH');
};

/**
 * 415 for a non-empty body in any other media type, or with no `Content-Type` at all: a body that is not
 * read as JSON was silently ignored before (a `text/plain` report request got the defaults).
 * Must run before the JSON body parser.
 */
export const requireJsonBodies = (): RequestHandler => (req, res, next) => {
  if (!hasBody(req) || acceptsBodyOf(req.headers['content-type'], req.method)) return next();
  // What the client may send instead (Accept-Post: W3C LDP; Accept-Patch: RFC 5789).
  if (req.method === 'PATCH') res.setHeader('Accept-Patch', JSON_MEDIA_TYPES.join(', '));
  else if (req.method === 'POST') res.setHeader('Accept-Post', 'application/json');
  next(
    new ProblemException(415, {
      type: problemType('unsupported_media_type'),
      detail: 'The request body must be application/json in UTF-8.',
    }),
  );
};

/**
 * 413 at once, before any byte of the body is read, for a request whose `Content-Length` announces more
 * than `limitBytes`, and the connection closes. The JSON parser would refuse it too, but only after
 * reading and discarding the whole announced body (`Content-Length: 99999999999` held the request open
 * until the request timeout, with no answer). A chunked body is still bounded by the parser.
 */
export const refuseOversizedBodies =
  (limitBytes: number): RequestHandler =>
  (req, res, next) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (!(declared > limitBytes)) return next();
    res.setHeader('Connection', 'close');
    next(new ProblemException(413, { detail: 'The request body is larger than 1 MiB.' }));
  };

type RouteLayer = Readonly<{
  route?: { _methods(): string[] };
  match(path: string): unknown;
}>;

/**
 * The methods some route serves at `path` (HEAD with GET, as Express serves it), read from the Express
 * router at request time so every route Nest registered counts. `undefined` when no route matches the
 * path, or when matching cannot tell (a malformed parameter: the router answers that with 400).
 */
const methodsAt = (app: Application, path: string): Set<string> | undefined => {
  const layers = (app as unknown as { router?: { stack?: RouteLayer[] } }).router?.stack ?? [];
  const methods = new Set<string>();
  for (const layer of layers) {
    if (!layer.route) continue;
    try {
      if (layer.match(path)) for (const method of layer.route._methods()) methods.add(method);
    } catch {
      return undefined;
    }
  }
  return methods.size > 0 ? methods : undefined;
};

/**
 * A path that exists answers a method it does not serve with 405 and `Allow` (RFC 9110 §15.5.6), and
 * OPTIONS with 204 and `Allow`; a path that does not exist goes on to the 404 handler.
 */
export const answerWrongMethod =
  (app: Application): RequestHandler =>
  (req, res, next) => {
    const methods = methodsAt(app, req.path);
    if (!methods || methods.has(req.method)) return next();
    const allow = [...methods, 'OPTIONS'].sort().join(', ');
    res.setHeader('Allow', allow);
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(
      new ProblemException(405, {
        type: problemType('method_not_allowed'),
        detail: `${req.method} is not allowed here; allowed: ${allow}.`,
      }),
    );
  };

/**
 * While the server closes (after the drain delay, see `createApp`), a request that still arrives on a
 * kept-alive connection gets 503 problem+json and `Connection: close` — what Nest's `return503OnClosing`
 * does, but in the contract's format.
 */
export const refuseWhileClosing =
  (isClosing: () => boolean): RequestHandler =>
  (_req: Request, res: Response, next: NextFunction) => {
    if (!isClosing()) return next();
    res.setHeader('Connection', 'close');
    res.setHeader('Retry-After', '1');
    next(new ProblemException(503, { detail: 'The server is shutting down; try again.' }));
  };

const strictlyDecoded = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
};

/**
 * The query parameters of a raw query string (`a=1&b=%ED%A0%80`, without `?`) whose name or value is not
 * valid percent-encoded UTF-8 (a stray `%`, `%zz`, a truncated or overlong sequence, an encoded
 * surrogate), as `{ field, message }`: the field is the parameter's name, or `query` when the name itself
 * is what does not decode (never echoing the bytes). Express' query parser would decode them with U+FFFD
 * instead, and the request would go on with altered text. Pure. RFC 3986 §2.1, WHATWG URL (UTF-8).
 */
export const queryEncodingFaults = (rawQuery: string): { field: string; message: string }[] =>
  rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .flatMap((pair) => {
      const at = pair.indexOf('=');
      const [key, value] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
      const name = strictlyDecoded(key);
      if (name !== undefined && strictlyDecoded(value) !== undefined) return [];
      const safe = name !== undefined && /^[\w.\-[\]]{1,100}$/.test(name) ? name : 'query';
      return [{ field: safe, message: 'is not valid percent-encoded UTF-8' }];
    });

/**
 * The same rule for what a handler may read from the request object itself instead of through a pipe
 * (`req.query.lastEventId`, `req.header('last-event-id')`, `req.body`): any query value, header value or
 * body string holding NUL or an unpaired surrogate is refused with 400 naming the field (a header by its
 * name), and so is a query parameter that is not valid percent-encoded UTF-8 (`queryEncodingFaults`). Must run after the JSON body parser.
 */
export const refuseFaultyText = (): RequestHandler => (req, _res, next) => {
  const rawQuery = req.originalUrl.split('?').slice(1).join('?');
  const errors = [
    ...queryEncodingFaults(rawQuery),
    ...textFaultsIn(req.query, 'query'),
    ...Object.entries(req.headers).flatMap(([name, value]) => textFaultsIn(value, name)),
    ...textFaultsIn(req.body, 'body'),
  ];
  next(errors.length > 0 ? new ValidationFailed(errors) : undefined);
};

/**
 * The global pipe: every body, query and path parameter a controller receives is refused with 400 when
 * any string in it (or any key) holds NUL or an unpaired surrogate, naming the field — before the route's
 * own schema, so a route that forgets the rule is still covered. It is what names a path parameter
 * (`id`); `refuseFaultyText` has already covered query, headers and body by then.
 */
export class TextInputPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') return value;
    // A named parameter (`@Param('id')`) is the field itself; a whole body or query names its own fields.
    const errors = textFaultsIn(value, metadata.data ?? metadata.type);
    if (errors.length > 0) throw new ValidationFailed(errors);
    return value;
  }
}

/** Statuses for requests Node's HTTP parser refuses before Express sees them. */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** A whole HTTP/1.1 problem+json answer, for sockets Express never sees; the connection then closes. */
const problemResponse = (status: number, detail: string): string => {
  const title = STATUS_CODES[status] ?? 'Bad Request';
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  return (
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
    // What securityHeaders() gives every answer Express writes (api.md: every response sends nosniff).
    'X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
};

/**
 * Node answers a request it cannot parse (a request line or headers over 16 KiB, a malformed request, a
 * timeout) itself, with an empty body; this answers the same status as problem+json and closes, as Node
 * does. A `CONNECT` request (a proxy tunnel; Node hands it to a `connect` listener and, without one, drops
 * the connection without an answer) gets 400 problem+json the same way: Conflux is no proxy. Attach to the
 * HTTP server once.
 */
export const answerClientErrors = (server: Server): void => {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
    socket.end(
      problemResponse(
        status,
        status === 431 ? 'The request line or headers are too large.' : 'The request could not be read.',
      ),
    );
  });
  server.on('connect', (_request: unknown, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end(problemResponse(400, 'CONNECT is not served: this is not a proxy.'));
  });
};
