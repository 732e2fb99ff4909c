import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { benchDatabase, type Benchmark } from './support.js';

/**
 * `npm run bench`: runs every `bench/*.bench.ts` (compiled to dist/bench) and prints one JSON object per
 * figure. `npm run bench -- <name-substring>` runs only matching benchmarks.
 */
const only = process.argv[2];
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
  for (const file of (await readdir(here)).filter((f) => f.endsWith('.bench.js')).sort()) {
    const { benchmarks } = (await import(join(here, file))) as { benchmarks: Benchmark[] };
    for (const bench of benchmarks.filter((b) => !only || b.name.includes(only))) {
      for (const figure of await bench.run({ databaseUrl: db.url, postgresVersion, tmpDir })) {
        console.log(JSON.stringify({ ...figure, ...machine }));
      }
    }
  }
} finally {
  await rm(tmpDir, { recursive: true, force: true });
  await db.stop();
}
