import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../../src/application/ports/logger.port.js';
import { User } from '../../../src/application/user/user.entity.js';
import { TenantDatabaseInUse } from '../../../src/domain/tenant/tenant.errors.js';
import { CredentialCipher } from '../../../src/infrastructure/tenancy/credential-cipher.js';
import { DatabaseKeys } from '../../../src/infrastructure/tenancy/database-identity.js';
import {
  PostgresTenantDirectory,
  templateFromDatabaseUrl,
} from '../../../src/infrastructure/tenancy/postgres-tenant-directory.js';
import { MikroOrmTenantDatabases } from '../../../src/infrastructure/tenancy/tenant-databases.js';
import { clusterUrl, createTestDatabase, withDatabase } from '../../support/database.js';
import { query } from '../../support/test-app.js';

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silent,
} as unknown as Logger;

/** The registry as the previous version wrote it: every URL stored encrypted, with the port of its day. */
const LEGACY_SCHEMA = `
  CREATE TABLE tenants (
    id text PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('provisioning', 'active', 'disabled')),
    self_signup boolean NOT NULL DEFAULT false,
    managed_database boolean NOT NULL,
    encrypted_connection text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`;

describe('tenant registry upgrade (rows stored before database names and keys)', () => {
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  const masterKey = randomBytes(32);
  const cipher = new CredentialCipher(masterKey);
  const keys = new DatabaseKeys(masterKey);
  const template = templateFromDatabaseUrl(clusterUrl());

  beforeAll(async () => {
    control = await createTestDatabase('conflux_registry');
    pool = new pg.Pool({ connectionString: control.url, max: 10 });
    // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
    pool.on('error', () => undefined);
  });
  afterAll(async () => {
    await pool?.end();
    await control?.drop();
  });

  const directory = () =>
    new PostgresTenantDirectory({
      control: pool,
      cipher,
      keys,
      databaseUrlTemplate: template,
      controlDatabaseUrl: control.url,
      logger: silent,
    });

  it('given rows from the previous version, when several instances start at once, then managed tenants follow the cluster and every row gets its key, once', async () => {
    await query(control.url, LEGACY_SCHEMA);
    // A managed tenant created when the (embedded) cluster listened on another port.
    const moved = new URL(withDatabase(clusterUrl(), 'conflux_tenant_oldbank'));
    moved.port = '1';
    const given = withDatabase(clusterUrl(), 'some_given_db');
    const rows = [
      ['oldbank', true, moved.toString()],
      ['givenbank', false, given],
      // Two tenants that already shared one database: the older keeps it.
      ['sharer', false, given.replace('127.0.0.1', 'localhost')],
    ] as const;
    for (const [i, [id, managed, url]] of rows.entries())
      await query(
        control.url,
        `INSERT INTO tenants (id, name, status, managed_database, encrypted_connection, created_at)
         VALUES ($1, $1, 'active', $2, $3, now() + make_interval(secs => $4))`,
        [id, managed, cipher.encrypt(url, id), i],
      );

    await Promise.all(Array.from({ length: 4 }, () => directory().ensureSchema()));
    await directory().ensureSchema();

    const d = directory();
    expect(await d.connectionOf('oldbank')).toBe(template.replace('{db}', 'conflux_tenant_oldbank'));
    expect(await d.connectionOf('givenbank')).toBe(given);
    const stored = await query<{
      id: string;
      database_key: string | null;
      encrypted_connection: string | null;
    }>(control.url, 'SELECT id, database_key, encrypted_connection FROM tenants ORDER BY created_at');
    expect(stored.map((r) => [r.id, r.database_key])).toEqual([
      ['oldbank', keys.of(template.replace('{db}', 'conflux_tenant_oldbank'))],
      ['givenbank', keys.of(given)],
      ['sharer', null],
    ]);
    // The stale URL of the managed tenant is gone; nothing is stored in clear.
    expect(stored[0].encrypted_connection).toBeNull();
    const text = await query<{ row: string }>(control.url, 'SELECT t::text AS row FROM tenants t');
    for (const { row } of text) expect(row).not.toMatch(/conflux_tenant_|some_given_db|127\.0\.0\.1/);
  });
});

describe('tenant marker', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('tenant_marked');
  });
  afterAll(async () => db?.drop());

  it('given a database opened by one tenant, when another tenant opens it, then it is refused before any change', async () => {
    const first = new MikroOrmTenantDatabases({ resolveUrl: async () => db.url, idleMs: 60_000 });
    await first.transactional('alpha', async (em) => {
      em.create(User, {
        id: crypto.randomUUID(),
        username: 'only-alpha',
        passwordHash: 'x',
        taxId: null,
        role: 'admin',
        createdAt: new Date(),
      });
    });
    await first.close();

    const second = new MikroOrmTenantDatabases({ resolveUrl: async () => db.url, idleMs: 60_000 });
    try {
      await expect(second.em('gamma')).rejects.toBeInstanceOf(TenantDatabaseInUse);
      await expect(second.transactional('gamma', async () => 'never')).rejects.toBeInstanceOf(
        TenantDatabaseInUse,
      );
      expect(await query(db.url, 'SELECT tenant_id FROM conflux_tenant')).toEqual([{ tenant_id: 'alpha' }]);
      expect(await query(db.url, 'SELECT username FROM users')).toEqual([{ username: 'only-alpha' }]);
      // The owner still opens it.
      await expect(second.em('alpha')).resolves.toBeDefined();
    } finally {
      await second.close();
    }
  });
});
