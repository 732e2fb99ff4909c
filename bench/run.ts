import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { benchDatabase, spread, type Benchmark, type Figure } from './support.js';

/**
 * `npm run bench`: runs every `bench/*.bench.ts` (compiled to dist/bench) and prints one JSON object per
 * figure, with the machine and its 1-minute load average before and after the figure's group ran, and the
 * smallest and largest of its runs (`spread`) beside the median (`value`).
 * `npm run bench -- <name>` runs the groups whose name, or the name of one of whose figures, contains it
 * (`file.csv`, `file-stage`, `eventstore.append`, …); several names, separated by spaces, select their union.
 */
const only = process.argv.slice(2);
/** A name that is exactly a group's or a figure's selects that one (`report.concurrent` not `….unwatched`). */
const matches = (bench: Benchmark, name: string, exact: boolean) =>
  [bench.name, ...bench.figures].some((n) => (exact ? n === name : n.includes(name)));
const load = () => Math.round(loadavg()[0] * 100) / 100;

/** A figure with its `spread` (smallest and largest run) added when it gave none and its runs are numbers. */
const withSpread = (figure: Figure): Figure => {
  const runs: unknown = figure.runs ?? figure.runsMs;
  if ('spread' in figure || !Array.isArray(runs) || runs.length === 0) return figure;
  return runs.every((run) => typeof run === 'number') ? { ...figure, spread: spread(runs) } : figure;
};
const here = dirname(fileURLToPath(import.meta.url));
const db = await benchDatabase();
const tmpDir = await mkdtemp(join(tmpdir(), 'conflux-bench-'));
const client = new pg.Client({ connectionString: db.url });
await client.connect();
const postgresVersion = ((await client.query('SHOW server_version')).rows[0] as { server_version: string })
  .server_version;
await client.end();
const machine = {
  node: process.version,
  postgres: postgresVersion,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memGb: Math.round(totalmem() / 2 ** 30),
};

try {
  const all: Benchmark[] = [];
  for (const file of (await readdir(here)).filter((f) => f.endsWith('.bench.js')).sort())
    all.push(...((await import(join(here, file))) as { benchmarks: Benchmark[] }).benchmarks);
  const selected = all.filter(
    (bench) =>
      only.length === 0 ||
      only.some((name) =>
        all.some((b) => matches(b, name, true)) ? matches(bench, name, true) : matches(bench, name, false),
      ),
  );
  if (selected.length === 0) throw new Error(`npm run bench: no group or figure named ${only.join(', ')}`);
  for (const bench of selected) {
    const loadBefore = load();
    const figures = await bench.run({ databaseUrl: db.url, postgresVersion, tmpDir });
    const loadAfter = load();
    for (const figure of figures)
      console.log(JSON.stringify({ ...withSpread(figure), loadBefore, loadAfter, ...machine }));
  }
} finally {
  await rm(tmpDir, { recursive: true, force: true });
  await db.stop();
}
