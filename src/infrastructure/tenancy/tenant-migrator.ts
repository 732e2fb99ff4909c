import type { EntityManager } from '@mikro-orm/postgresql';
import { type TenantMigration, tenantMigrations } from './tenant-migrations.js';

// Any constant: serialises migrators of one database (two instances opening a tenant at once).
const LOCK_KEY = 0x636f6e66;

/**
 * Applies the pending tenant migrations, in list order, each in its own transaction together with its
 * `schema_migrations` row. Returns the names applied now. Safe to run concurrently and repeatedly.
 */
export const migrateTenantDatabase = async (
  em: EntityManager,
  migrations: readonly TenantMigration[] = tenantMigrations,
): Promise<string[]> => {
  const names = new Set<string>();
  for (const m of migrations) {
    if (names.has(m.name)) throw new Error(`Duplicate tenant migration name: ${m.name}`);
    names.add(m.name);
  }

  // Fast path for the common case (every tenant open): one query, no lock, when nothing is pending.
  const [table] = await em
    .fork()
    .execute<{ present: boolean }[]>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (table?.present) {
    const rows = await em.fork().execute<{ name: string }[]>('SELECT name FROM schema_migrations');
    const done = new Set(rows.map((r) => r.name));
    if (migrations.every((m) => done.has(m.name))) return [];
  }

  const applied: string[] = [];
  for (const migration of migrations) {
    const ran = await em.fork().transactional(async (tx) => {
      await tx.execute('SELECT pg_advisory_xact_lock(?)', [LOCK_KEY]);
      await tx.execute(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           name text PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = await tx.execute<{ name: string }[]>('SELECT name FROM schema_migrations WHERE name = ?', [
        migration.name,
      ]);
      if (done.length > 0) return false;
      for (const statement of migration.up) await tx.execute(statement);
      await tx.execute('INSERT INTO schema_migrations (name) VALUES (?)', [migration.name]);
      return true;
    });
    if (ran) applied.push(migration.name);
  }
  return applied;
};
