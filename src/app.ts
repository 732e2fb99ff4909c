import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import type { Application } from 'express';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module.js';
import { type AppConfig, ConfigError } from './infrastructure/config/app-config.js';
import { applyServerTimeouts, SERVER_TIMEOUTS } from './infrastructure/http/server-timeouts.js';
import { createLogger, NestPinoLogger } from './infrastructure/logging/pino-logger.js';
import { httpMetrics } from './infrastructure/observability/http-metrics.js';
import { PrometheusMetrics } from './infrastructure/observability/prometheus-metrics.js';
import { securityHeaders } from './interfaces/http/auth/security-headers.js';
import { requestLogger } from './infrastructure/logging/request-logger.js';
import { DrainingState } from './interfaces/http/health/draining-state.js';
import { buildOpenApiDocument } from './interfaces/http/openapi/openapi.js';
import {
  JSON_MEDIA_TYPES,
  TextInputPipe,
  answerClientErrors,
  answerWrongMethod,
  refuseFaultyText,
  refuseOversizedBodies,
  refuseWhileClosing,
  requireJsonBodies,
} from './interfaces/http/problem/request-guards.js';

export type ConfluxApp = Readonly<{
  app: INestApplication;
  /** Graceful: readiness turns 503, waits `shutdownDelayMs`, then closes the server and every resource. */
  close(): Promise<void>;
}>;

export type CreateAppOptions = Readonly<{
  /** Where the JSON log lines go (default stdout); tests capture them to prove no secret is logged. */
  logDestination?: DestinationStream;
}>;

/** JSON bodies up to 1 MiB; a larger one is answered 413 by the problem filter. */
const BODY_LIMIT_BYTES = 1024 * 1024;

/** Re-exported: tests and callers know the timeouts as the app's. */
export { SERVER_TIMEOUTS };

/** How often, once closing, connections that went idle are closed (Node closes idle ones only at close()). */
const CLOSE_IDLE_EVERY_MS = 100;

/**
 * Builds the initialised application (not yet listening): `await app.listen(port)` next.
 * `config.databaseUrl` must be set — `main` starts an embedded PostgreSQL when the environment has none.
 */
/** The version of the API the OpenAPI document describes (package.json `version`). */
const API_VERSION = '0.1.0';

export const createApp = async (config: AppConfig, options: CreateAppOptions = {}): Promise<ConfluxApp> => {
  if (!config.databaseUrl)
    throw new ConfigError([
      'DATABASE_URL: required (npm start runs an embedded PostgreSQL when it is unset)',
    ]);
  const logger = createLogger(config.logLevel, options.logDestination);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), {
    logger: new NestPinoLogger(logger.child({ component: 'nest' })),
    bodyParser: false,
    // Fail with an exception (main reports it) instead of Nest calling process.exit during bootstrap.
    abortOnError: false,
    // Replaced by `refuseWhileClosing` below: Nest's own answer is text/html, not problem+json.
    return503OnClosing: false,
  });
  const server = app.getHttpServer();
  applyServerTimeouts(server);
  app.disable('x-powered-by');
  // TRUST_PROXY: behind a load balancer `req.ip` (what login throttling counts) is the client's address
  // from X-Forwarded-For, trusted only from the configured hops/addresses; unset, it is the socket's.
  app.set('trust proxy', typeof config.trustProxy === 'object' ? [...config.trustProxy] : config.trustProxy);
  // One log line per request, and security headers, on every answer (405, 415, 503 below too).
  app.use(requestLogger(logger));
  app.use(httpMetrics(app.get(PrometheusMetrics)));
  app.use(securityHeaders());
  let serverClosing = false;
  // Order matters: these run before every route, and before the body is read.
  app.use(refuseWhileClosing(() => serverClosing));
  app.use(answerWrongMethod(app.getHttpAdapter().getInstance() as Application));
  app.use(requireJsonBodies());
  app.use(refuseOversizedBodies(BODY_LIMIT_BYTES));
  app.useBodyParser('json', { limit: BODY_LIMIT_BYTES, type: [...JSON_MEDIA_TYPES] });
  app.use(refuseFaultyText());
  app.useGlobalPipes(new TextInputPipe());
  answerClientErrors(app.getHttpServer());

  // Built from the routes' zod schemas (ADR 0015); the version is the API's, kept with package.json's.
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, API_VERSION), {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
  });

  await app.init();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      app.get(DrainingState).start();
      logger.info({ delayMs: config.shutdownDelayMs }, 'shutting down: readiness now answers 503');
      if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs);
      serverClosing = true;
      // A request in flight at close leaves its connection idle afterwards, which would hold the close for
      // the whole keep-alive timeout: close such connections as soon as they go idle.
      const closeIdle = setInterval(() => server.closeIdleConnections(), CLOSE_IDLE_EVERY_MS);
      try {
        await app.close();
      } finally {
        clearInterval(closeIdle);
      }
      logger.info('stopped');
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    })());

  return { app, close };
};
