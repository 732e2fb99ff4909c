import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { findUserByName } from '../../../src/application/user/users.service.js';
import { MikroOrmTenantDatabases } from '../../../src/infrastructure/tenancy/tenant-databases.js';
import { tenantMigrations } from '../../../src/infrastructure/tenancy/tenant-migrations.js';
import { createTestDatabase } from '../../support/database.js';

/**
 * Tenant migration 0003 makes usernames unique ignoring case. A tenant database may already hold `bob`
 * and `BOB`: both are kept and still sign in with their own spelling; no new case-twin can be added.
 */
const MIGRATION = '0003_users_case_insensitive_and_verified_tax_id';

describe('tenant migration: usernames unique ignoring case, existing twins kept', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  let databases: MikroOrmTenantDatabases | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('tenant_case');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // The database as an earlier release left it: every migration before this one, and case twins.
    const before = tenantMigrations.slice(
      0,
      tenantMigrations.findIndex((m) => m.name === MIGRATION),
    );
    expect(before.length).toBeGreaterThanOrEqual(2);
    await client.query(
      'CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (const migration of before) {
      for (const statement of migration.up) await client.query(statement);
      await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [migration.name]);
    }
    const insert = (username: string, taxId: string, createdAt: string) =>
      client.query(
        `INSERT INTO users (id, username, password_hash, tax_id, role, created_at) VALUES ($1, $2, 'h', $3, 'member', $4)`,
        [randomUUID(), username, taxId, createdAt],
      );
    await insert('bob', 'BOB-LOWER', '2025-01-01T00:00:00Z');
    await insert('BOB', 'BOB-UPPER', '2025-02-01T00:00:00Z');
    await insert('Bob', 'BOB-TITLE', '2025-03-01T00:00:00Z');
    await insert('carl', 'CARL-1', '2025-01-01T00:00:00Z');
  });

  afterAll(async () => {
    await databases?.close();
    await client?.end();
    await db?.drop();
  });

  it('applies on opening the tenant, keeping every user; each twin still found by its exact spelling', async () => {
    databases = new MikroOrmTenantDatabases({ resolveUrl: async () => db.url, idleMs: 60_000 });
    const em = await databases.em('tenant');
    const { rows } = await client.query<{ username: string; legacy: boolean; verified: boolean }>(
      'SELECT username, legacy_case_duplicate AS legacy, tax_id_verified AS verified FROM users ORDER BY created_at, username',
    );
    expect(rows).toEqual([
      { username: 'bob', legacy: false, verified: false },
      { username: 'carl', legacy: false, verified: false },
      { username: 'BOB', legacy: true, verified: false },
      { username: 'Bob', legacy: true, verified: false },
    ]);

    expect((await findUserByName(em, 'BOB'))?.taxId).toBe('BOB-UPPER');
    expect((await findUserByName(em, 'Bob'))?.taxId).toBe('BOB-TITLE');
    expect((await findUserByName(em, 'bob'))?.taxId).toBe('BOB-LOWER');
    // Another spelling finds the one the index covers (the oldest).
    expect((await findUserByName(em, 'bOB'))?.taxId).toBe('BOB-LOWER');
    expect((await findUserByName(em, 'CARL'))?.taxId).toBe('CARL-1');
    expect(await findUserByName(em, 'nobody')).toBeNull();
    // Tax IDs stored before have no known provenance: unverified (rows above), never assumed verified.
  });

  it('refuses any new case twin at the database level', async () => {
    for (const name of ['bOb', 'CARL'])
      await expect(
        client.query(
          `INSERT INTO users (id, username, password_hash, tax_id, role) VALUES ($1, $2, 'h', NULL, 'member')`,
          [randomUUID(), name],
        ),
      ).rejects.toMatchObject({ code: '23505' });
  });
});
