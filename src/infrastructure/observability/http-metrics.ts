import type { IncomingMessage, ServerResponse } from 'node:http';
import { routeOf } from '../logging/request-logger.js';
import type { PrometheusMetrics } from './prometheus-metrics.js';

/**
 * Express middleware observing every request's duration, labelled with the route template that served it
 * (`/v1/reports/:id`; `unmatched` for a 404 or 405), never the raw URL: bounded cardinality, no ids, no
 * query strings.
 */
export const httpMetrics = (metrics: PrometheusMetrics) => {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const started = process.hrtime.bigint();
    let observed = false;
    const done = (): void => {
      if (observed) return;
      observed = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequest(req.method ?? 'OTHER', routeOf(req) ?? 'unmatched', res.statusCode, seconds);
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
};
