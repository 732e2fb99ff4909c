import { register } from 'node:module';
import type { IncomingMessage } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { routeOf } from '../logging/request-logger.js';

/**
 * Modules the ESM loader hook intercepts: those imported from ESM that an instrumentation patches. Only
 * these, not every module (import-in-the-middle's `include`): wrapping all of them costs start-up time
 * and memory for nothing. http is patched through require (Express loads it), undici through its
 * diagnostics channels.
 */
const HOOKED_MODULES = ['pg', 'pg-pool', 'kafkajs'];

/** Query parameters of incoming URLs never recorded: the SSE access token, the download signature. */
const SECRET_QUERY_PARAMETERS = ['access_token', 'signature', 'sig', 'token'];

/** Paths that are probes, not work: no span (they would drown the traces of reports). */
const UNTRACED_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/**
 * A provider job id is opaque to Conflux but not to its provider (the simulator's encodes the subject's
 * tax id): a URL's path segment after `/jobs/` is never recorded, nor its query.
 */
export const redactProviderPath = (path: string): string =>
  path.replace(/\?.*$/, '').replace(/(\/jobs\/)[^/]+/, '$1{jobId}');

/**
 * SQL text without its literals: MikroORM inlines values into the statements it sends (a report's state,
 * with the subject's tax id, is one), so a query's text is recorded only with each string literal
 * replaced by `?`. Numbers stay (versions, limits): they identify nobody.
 */
export const sanitizeSql = (text: string): string => text.replace(/'(?:[^']|'')*'/g, '?');

/** Overwrites the URL attributes of a span whose path holds a job id (`origin` only on client spans). */
const redactUrlAttributes = (span: Span, path: string, origin?: string): void => {
  if (!path.includes('/jobs/')) return;
  const redacted = redactProviderPath(path);
  span.setAttribute('url.path', redacted);
  if (origin !== undefined) span.setAttribute('url.full', `${origin}${redacted}`);
};

/**
 * The ESM loader hook (import-in-the-middle, which @opentelemetry/instrumentation patches ESM imports
 * through), for HOOKED_MODULES only. In-thread synchronous hooks (`module.registerHooks`) where this Node
 * runs them correctly (24.11.1+): the asynchronous `module.register` hook runs on a loader thread of its
 * own, measured at ~50 MB more resident memory (bench/RESULTS.md). Else that documented async hook.
 */
const registerLoaderHook = async (): Promise<void> => {
  const inThread = await import('import-in-the-middle/register-hooks.mjs');
  if (inThread.supportsSyncHooks()) inThread.register({ include: HOOKED_MODULES });
  else
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
      data: { include: HOOKED_MODULES },
    });
};

/**
 * Starts the OpenTelemetry Node SDK: the ESM loader hook, resource detection without cloud probes, and
 * the http, pg, undici (fetch: provider calls) and kafkajs instrumentations. Spans go to the OTLP exporter
 * the standard `OTEL_*` variables describe (batched). OTel metrics and logs stay off: metrics are
 * Prometheus at /metrics, logs are pino lines carrying trace_id/span_id. Returns the SDK's shutdown.
 */
export const startTracing = async (): Promise<() => Promise<void>> => {
  await registerLoaderHook();
  // The SDK's default detectors include none that probes cloud metadata today, but its "all" may grow:
  // name them (an operator's own value wins).
  process.env.OTEL_NODE_RESOURCE_DETECTORS ??= 'env,host,os,process';
  process.env.OTEL_SERVICE_NAME ??= 'conflux';
  const sdk = new NodeSDK({
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        redactedQueryParamsServer: SECRET_QUERY_PARAMETERS,
        // The bundled simulator serves /jobs/:id in this process when it runs (development).
        requestHook: (span, request) => {
          const url = (request as IncomingMessage).url;
          if (typeof url === 'string') redactUrlAttributes(span, url);
        },
        // No framework instrumentation: the route template Express matched names the server span.
        applyCustomAttributesOnSpan: (span, request) => {
          const route = routeOf(request as IncomingMessage);
          if (!route) return;
          span.setAttribute('http.route', route);
          span.updateName(`${(request as IncomingMessage).method ?? 'GET'} ${route}`);
        },
      }),
      // A query outside a traced request or step (the work loop's polling, subscriptions) is no trace.
      new PgInstrumentation({
        requireParentSpan: true,
        requestHook: (span, { query }) => span.setAttribute('db.query.text', sanitizeSql(query.text)),
      }),
      new UndiciInstrumentation({
        requireParentforSpans: true,
        requestHook: (span, request) => redactUrlAttributes(span, request.path, request.origin),
      }),
      new KafkaJsInstrumentation(),
    ],
  });
  sdk.start();
  return () => sdk.shutdown();
};
