import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** A compiled entry point of this project running in a child process (crash tests, end-to-end bench). */
export type NodeProcess = Readonly<{
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
  /** SIGKILL by default: no graceful stop, as in a crash. */
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}>;

/**
 * Starts `node <script>` (relative to the project root) and resolves once it printed `ready`. The default
 * start timeout is generous: on a loaded 2-core machine a cold start (module loading, migrations, an
 * embedded PostgreSQL) took well over the 30 s once allowed. `TEST_WAIT_SCALE` stretches it further.
 */
export const startNodeProcess = async (
  script: string,
  env: NodeJS.ProcessEnv,
  ready: string | RegExp,
  timeoutMs = 120_000 * Number(process.env.TEST_WAIT_SCALE ?? 1),
  /** Node options before the script, e.g. `['--import', './dist/…/tracing.js']`. */
  nodeArgs: readonly string[] = [],
): Promise<NodeProcess> => {
  const child = spawn(process.execPath, [...nodeArgs, resolve(script)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  await new Promise<void>((started, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`${script} did not start in ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (typeof ready === 'string' ? output.includes(ready) : ready.test(output)) {
        clearTimeout(timer);
        started();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`${script} exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    exited,
    output: () => output,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
};

/** What the compiled server (`dist/src/main.js`) needs in an e2e test: its own port, data and control database. */
export type CompiledServerSetup = Readonly<{
  port: number;
  dataDir: string;
  /** The control database (DATABASE_URL). */
  databaseUrl: string;
  operatorToken: string;
  /** Root URL of a provider simulator (or of a proxy in front of one): the three providers live under it. */
  providersUrl: string;
  logLevel?: string;
}>;

/**
 * The environment of the compiled server in a test: development mode, nothing inherited but PATH, the
 * three providers under `providersUrl`, plus `extra` (tunables of the test).
 */
export const compiledServerEnv = (
  setup: CompiledServerSetup,
  extra: Readonly<Record<string, string>> = {},
): NodeJS.ProcessEnv => {
  const root = setup.providersUrl.replace(/\/+$/, '');
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'development',
    LOG_LEVEL: setup.logLevel ?? 'warn',
    PORT: String(setup.port),
    DATA_DIR: setup.dataDir,
    DATABASE_URL: setup.databaseUrl,
    OPERATOR_TOKEN: setup.operatorToken,
    PROVIDER_BANK_URL: `${root}/bank-transactions`,
    PROVIDER_CREDIT_URL: `${root}/credit-bureau`,
    PROVIDER_TAX_URL: `${root}/tax-authority`,
    ...extra,
  };
};
