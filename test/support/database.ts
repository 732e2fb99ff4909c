import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The cluster every integration/e2e test runs against (set by global-setup when not given). */
export const clusterUrl = (): string => {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error('DATABASE_URL is not set: run the tests through `npm test` (global-setup provides one)');
  return url;
};

export const withDatabase = (url: string, database: string): string => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/** A fresh, empty database for one test file; `drop()` removes it (and any connection to it). */
export const createTestDatabase = async (
  prefix = 'test',
): Promise<{ name: string; url: string; drop: () => Promise<void> }> => {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: clusterUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(clusterUrl(), name),
    drop: async () => {
      const c = new pg.Client({ connectionString: clusterUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
};
