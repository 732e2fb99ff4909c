#!/usr/bin/env node
/**
 * S3Proxy (a real S3-compatible server, filesystem backend) for tests and benches.
 *
 * `installS3Proxy()` fetches S3Proxy 4.1.0 and its jars from Maven Central once, with
 * `mvn dependency:copy-dependencies` on scripts/s3proxy/pom.xml, into `.cache/s3proxy/lib` (gitignored).
 * `startS3Proxy()` starts it on a free loopback port with a temporary data directory and resolves once it
 * answers HTTP. Needs `java` (17+) and, for the first fetch, `mvn`.
 *
 * As a command: `node scripts/s3proxy/s3proxy.mjs` fetches, starts, prints the S3_* variables and runs
 * until interrupted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const libDir = join(root, '.cache/s3proxy/lib');
const MAIN_JAR = 's3proxy-4.1.0.jar';

/** Credentials of the test server: fixed, it listens on loopback only and holds throw-away data. */
export const S3PROXY_CREDENTIALS = Object.freeze({
  accessKeyId: 'conflux-test',
  secretAccessKey: 'conflux-test-secret',
});

/** Why S3Proxy cannot run here (`java`/`mvn` missing), or null when it can. */
export const s3ProxyUnavailableReason = () => {
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0)
    return 'no `java` on PATH (Java 17+ runs S3Proxy)';
  if (!existsSync(join(libDir, MAIN_JAR)) && spawnSync('mvn', ['-v'], { stdio: 'ignore' }).status !== 0)
    return 'no `mvn` on PATH to fetch S3Proxy from Maven Central (and no cached copy in .cache/s3proxy)';
  return null;
};

/**
 * Fetches the jars unless they are cached. Returns how long the fetch took in ms (0 when cached).
 * @throws Error with Maven's output when the fetch fails
 */
export const installS3Proxy = async () => {
  if (existsSync(join(libDir, MAIN_JAR))) return 0;
  const started = Date.now();
  const partial = `${libDir}.partial`;
  await rm(partial, { recursive: true, force: true });
  const mvn = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(here, 'pom.xml'),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${partial}`,
    ],
    { encoding: 'utf8' },
  );
  if (mvn.status !== 0) throw new Error(`fetching S3Proxy with Maven failed:\n${mvn.stdout}${mvn.stderr}`);
  await rm(libDir, { recursive: true, force: true });
  await mkdir(dirname(libDir), { recursive: true });
  // The cache appears whole or not at all: an interrupted fetch is redone, never half used.
  await rename(partial, libDir);
  return Date.now() - started;
};

const freePort = () =>
  new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });

const answers = async (endpoint) => {
  try {
    // Any HTTP answer (403 to an unsigned request) means it is up.
    await globalThis.fetch(endpoint, { signal: globalThis.AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts S3Proxy on a free loopback port with an empty temporary data directory.
 * @param {{ timeoutMs?: number }} [options] how long to wait for it to answer (default 60 s)
 * @returns {Promise<{ endpoint: string, region: string, accessKeyId: string, secretAccessKey: string,
 *   startMs: number, stop: () => Promise<void> }>}
 * @throws Error when it exits or does not answer in time (its log is in the message)
 */
export const startS3Proxy = async ({ timeoutMs = 60_000 } = {}) => {
  const started = Date.now();
  const workDir = await mkdtemp(join(tmpdir(), 'conflux-s3proxy-'));
  await mkdir(join(workDir, 'data'));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const properties = [
    `s3proxy.endpoint=${endpoint}`,
    's3proxy.authorization=aws-v2-or-v4',
    `s3proxy.identity=${S3PROXY_CREDENTIALS.accessKeyId}`,
    `s3proxy.credential=${S3PROXY_CREDENTIALS.secretAccessKey}`,
    'jclouds.provider=filesystem',
    `jclouds.filesystem.basedir=${join(workDir, 'data')}`,
  ];
  await writeFile(join(workDir, 's3proxy.properties'), `${properties.join('\n')}\n`);
  const child = spawn(
    'java',
    [
      `-Dlogback.configurationFile=${join(here, 'logback.xml')}`,
      '-cp',
      `${libDir}/*`,
      'org.gaul.s3proxy.Main',
      '--properties',
      join(workDir, 's3proxy.properties'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );
  let exit;
  void exited.then((result) => (exit = result));

  const stop = async () => {
    if (exit === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(workDir, { recursive: true, force: true });
  };

  const deadline = started + timeoutMs;
  while (!(await answers(endpoint))) {
    if (exit !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(
        `S3Proxy ${exit ? `exited (${exit.code ?? exit.signal})` : `did not answer within ${timeoutMs} ms`}:\n${log}`,
      );
    }
    await sleep(100);
  }
  return { endpoint, region: 'us-east-1', ...S3PROXY_CREDENTIALS, startMs: Date.now() - started, stop };
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const reason = s3ProxyUnavailableReason();
  if (reason) {
    console.error(`S3Proxy cannot run: ${reason}`);
    process.exit(1);
  }
  const fetchMs = await installS3Proxy();
  const server = await startS3Proxy();
  console.log(`# S3Proxy: fetch ${fetchMs} ms, start ${server.startMs} ms (Ctrl-C stops it)`);
  console.log(`S3_ENDPOINT=${server.endpoint}\nS3_REGION=${server.region}\nS3_FORCE_PATH_STYLE=true`);
  console.log(`AWS_ACCESS_KEY_ID=${server.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${server.secretAccessKey}`);
  const shutdown = () => void server.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
