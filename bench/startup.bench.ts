import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../src/infrastructure/postgres/embedded-postgres.js';
import { median, spread, type Benchmark, type BenchContext, type Figure } from './support.js';

/**
 * `startup.ms` and `startup.rss_mb`: the compiled server (`dist/src/main.js`, against an existing control
 * database, the bundled simulator on) from spawn to "Conflux listening", and its resident memory one
 * second later — plain, with the tracing preload but no exporter (tracing off), and with tracing on
 * (an OTLP endpoint: the SDK, the ESM loader hook, four instrumentations). `STARTUP_RUNS` (default 5).
 */
const runs = Number(process.env.STARTUP_RUNS ?? 5);
const PRELOAD = ['--import', './dist/src/infrastructure/observability/tracing.js'];

type Variant = Readonly<{ variant: string; nodeArgs: string[]; env: Record<string, string> }>;

const startOnce = async (
  variant: Variant,
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; rssMb: number }> => {
  const started = performance.now();
  const child = spawn(process.execPath, [...variant.nodeArgs, 'dist/src/main.js'], {
    env: { ...env, ...variant.env, PORT: String(await freePort()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    const ms = await new Promise<number>((listening, fail) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Conflux listening')) listening(performance.now() - started);
      });
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      void exited.then(() => fail(new Error(`the server exited:\n${output}`)));
    });
    await sleep(1000);
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return { ms, rssMb: Math.round(rssKb / 102.4) / 10 };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
};

const measure = async (ctx: BenchContext): Promise<Figure[]> => {
  // A collector that accepts everything: tracing on exports for real, to this process.
  const collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((listening) => collector.listen(0, '127.0.0.1', listening));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const database = `conflux_bench_startup_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ctx.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const dataDir = await mkdtemp(join(ctx.tmpDir, 'startup-'));
  const url = new URL(ctx.databaseUrl);
  url.pathname = `/${database}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATABASE_URL: url.toString(),
    DATA_DIR: dataDir,
    OPERATOR_TOKEN: randomBytes(24).toString('base64url'),
    SIM_PORT: '0',
  };
  const variants: Variant[] = [
    { variant: 'plain', nodeArgs: [], env: {} },
    { variant: 'preload, tracing off', nodeArgs: PRELOAD, env: {} },
    { variant: 'tracing on', nodeArgs: PRELOAD, env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } },
  ];
  try {
    await startOnce(variants[0], env); // migrates the control database: not a start-up to measure
    const figures: Figure[] = [];
    for (const variant of variants) {
      const results: { ms: number; rssMb: number }[] = [];
      for (let i = 0; i < runs; i++) results.push(await startOnce(variant, env));
      const ms = results.map((r) => Math.round(r.ms));
      const rss = results.map((r) => r.rssMb);
      figures.push(
        {
          name: 'startup.ms',
          variant: variant.variant,
          value: median(ms),
          unit: 'ms',
          runs: ms,
          ...spread(ms),
        },
        { name: 'startup.rss_mb', variant: variant.variant, value: median(rss), unit: 'MB', runs: rss },
      );
    }
    return figures;
  } finally {
    collector.close();
    await rm(dataDir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
};

export const benchmarks: Benchmark[] = [
  { name: 'startup', figures: ['startup.ms', 'startup.rss_mb'], run: measure },
];
