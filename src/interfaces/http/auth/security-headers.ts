import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/** Where SwaggerUI lives (`SwaggerModule.setup('docs', …)` in src/app.ts). */
const DOCS_PREFIX = '/docs';

/**
 * The API answers JSON, problem+json, event streams and redirects: nothing it sends should ever load a
 * script, a style or a frame, so its pages (if a browser renders one) may load nothing at all.
 */
const apiHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
    },
  },
});

/**
 * SwaggerUI: its scripts and stylesheet are files served from /docs ('self'), but it writes inline
 * styles and uses data: images (icons); it fetches /docs/openapi.json and sends "Try it out" requests to
 * this origin ('self'). No `upgrade-insecure-requests`: development serves plain HTTP on 127.0.0.1.
 */
const docsHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
});

const isDocs = (path: string): boolean => path === DOCS_PREFIX || path.startsWith(`${DOCS_PREFIX}/`);

/**
 * Security headers for every response, set by helmet (`X-Content-Type-Options: nosniff`, a CSP, HSTS,
 * `Referrer-Policy: no-referrer` — so a signed link never leaks in a Referer —, frame and cross-origin
 * policies). Every API response is also `Cache-Control: no-store` (api.md: responses carrying a token or
 * a signed link — login, reports with file URLs, the file redirect — must not be cached; the rest is
 * per-user data too). A route may set its own Cache-Control afterwards (the event stream does).
 */
export const securityHeaders = (): RequestHandler => (req: Request, res: Response, next: NextFunction) => {
  if (isDocs(req.path)) {
    docsHeaders(req, res, next);
    return;
  }
  res.setHeader('Cache-Control', 'no-store');
  apiHeaders(req, res, next);
};
