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
import { createLogger, NestPinoLogger } from './infrastructure/logging/pino-logger.js';
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
const BODY_LIMIT = '1mb';

/**
 * Timeouts of the HTTP server, set deliberately rather than left at Node's defaults (keep-alive 5 s).
 * - `keepAliveTimeoutMs`: an idle keep-alive connection stays open this long. It must outlast every
 *   client's idle timeout, so the client always closes first: otherwise a client that reuses its idle
 *   socket just as the server closes it sees `other side closed` / ECONNRESET (seen on a loaded machine,
 *   where a client's own idle timer fires late). undici keeps an idle socket 4 s (or the advertised
 *   `Keep-Alive: timeout` minus 2 s), Node's http.Agent without `timeout` forever, load balancers ~60 s.
 * - `headersTimeoutMs`: a client must send a request's headers within this time (slow-header attacks);
 *   above the keep-alive timeout, the usual rule, so no timer ever races a reused connection's request.
 * - `requestTimeoutMs`: the whole request (headers and a body of at most 1 MiB) must arrive within this;
 *   responses are not bounded by it (a live-progress stream may run for minutes).
 */
export const SERVER_TIMEOUTS = {
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 66_000,
  requestTimeoutMs: 120_000,
} as const;

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
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeoutMs;
  server.headersTimeout = SERVER_TIMEOUTS.headersTimeoutMs;
  server.requestTimeout = SERVER_TIMEOUTS.requestTimeoutMs;
  app.disable('x-powered-by');
  // One log line per request, and security headers, on every answer (405, 415, 503 below too).
  app.use(requestLogger(logger));
  app.use(securityHeaders());
  let serverClosing = false;
  // Order matters: these run before every route, and before the body is read.
  app.use(refuseWhileClosing(() => serverClosing));
  app.use(answerWrongMethod(app.getHttpAdapter().getInstance() as Application));
  app.use(requireJsonBodies());
  app.useBodyParser('json', { limit: BODY_LIMIT, type: [...JSON_MEDIA_TYPES] });
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
