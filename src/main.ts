import { join } from 'node:path';
import { createApp } from './app.js';
import { type AppConfig, ConfigError, loadConfig } from './infrastructure/config/app-config.js';
import { redactSecrets } from './infrastructure/logging/pino-logger.js';
import { shutdownTracing } from './infrastructure/observability/tracing-shutdown.js';
import type { EmbeddedCluster } from './infrastructure/postgres/embedded-postgres.js';

const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(1);
};

const readConfig = (): AppConfig => {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
};

const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** Time allowed for in-flight work to finish once readiness has turned 503 and the delay has passed. */
const SHUTDOWN_TIMEOUT_MS = 30_000;

/**
 * embedded-postgres installs SIGTERM/SIGINT handlers (async-exit-hook) that stop the cluster and exit at
 * once — under requests still draining. It is loaded only when needed, and those handlers are removed, so
 * the order on shutdown stays ours: readiness 503, drain, close the app, then stop the cluster.
 */
const startEmbedded = async (dir: string): Promise<EmbeddedCluster> => {
  const before = new Map(SHUTDOWN_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const { startEmbeddedPostgres } = await import('./infrastructure/postgres/embedded-postgres.js');
  for (const signal of SHUTDOWN_SIGNALS)
    for (const listener of process.listeners(signal))
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
  return startEmbeddedPostgres(dir);
};

const main = async (): Promise<void> => {
  let config = readConfig();

  let embedded: EmbeddedCluster | undefined;
  if (!config.databaseUrl) {
    const dir = join(config.dataDir, 'postgres');
    process.stdout.write(`DATABASE_URL unset: starting an embedded PostgreSQL in ${dir}\n`);
    embedded = await startEmbedded(dir);
    config = { ...config, databaseUrl: embedded.url };
  }

  const stopEmbedded = async () => {
    await embedded?.stop().catch(() => undefined);
  };

  let conflux: Awaited<ReturnType<typeof createApp>>;
  try {
    conflux = await createApp(config);
    await conflux.app.listen(config.port, config.host);
  } catch (error) {
    await stopEmbedded();
    const message = error instanceof Error ? error.message : String(error);
    return fail(`Conflux could not start: ${redactSecrets(message)}`);
  }

  const url = (await conflux.app.getUrl()).replace('[::1]', 'localhost');
  // The one place a secret is shown: a generated operator token is useless unless the operator sees it.
  if (config.operatorTokenGenerated)
    process.stdout.write(
      `Operator token (generated, kept in ${join(config.dataDir, 'operator-token')}): ${config.secrets.operatorToken}\n`,
    );
  process.stdout.write(`Conflux listening on ${url} (OpenAPI at ${url}/docs)\n`);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    // A connection that never ends (a stalled client, a stream) must not keep the process alive forever.
    setTimeout(() => {
      process.stderr.write('Shutdown took too long: exiting\n');
      process.exit(1);
    }, config.shutdownDelayMs + SHUTDOWN_TIMEOUT_MS).unref();
    void (async () => {
      try {
        await conflux.close();
        await stopEmbedded();
        await shutdownTracing();
        process.exit(0);
      } catch (error) {
        process.stderr.write(`Shutdown failed: ${redactSecrets(String(error))}\n`);
        process.exit(1);
      }
    })();
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, shutdown);
};

await main();
