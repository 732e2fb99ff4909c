import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { User } from '../../../src/application/user/user.entity.js';
import { TenantNotFound } from '../../../src/domain/tenant/tenant.errors.js';
import { MikroOrmTenantDatabases } from '../../../src/infrastructure/tenancy/tenant-databases.js';
import { tenantMigrations } from '../../../src/infrastructure/tenancy/tenant-migrations.js';
import { createTestDatabase } from '../../support/database.js';

type TestDb = Awaited<ReturnType<typeof createTestDatabase>>;

const query = async <T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
};

const connectionsTo = async (adminUrl: string, database: string): Promise<number> => {
  const [row] = await query<{ n: string }>(
    adminUrl,
    'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  return Number(row.n);
};

const newUser = (username: string) => ({
  id: randomUUID(),
  username,
  passwordHash: '$scrypt$ln=10,r=8,p=1$x$y',
  taxId: null,
  role: 'member' as const,
  createdAt: new Date(),
});

describe('MikroOrmTenantDatabases', () => {
  let a: TestDb;
  let b: TestDb;
  let databases: MikroOrmTenantDatabases;
  const urls = new Map<string, string>();

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestDatabase('tenant_a'), createTestDatabase('tenant_b')]);
    urls.set('alpha', a.url).set('beta', b.url);
  });
  afterEach(async () => databases?.close());
  afterAll(async () => {
    await Promise.all([a?.drop(), b?.drop()]);
  });

  const open = (idleMs = 60_000) =>
    (databases = new MikroOrmTenantDatabases({ resolveUrl: async (id) => urls.get(id), idleMs }));

  it('opens one ORM for concurrent first uses of a tenant, and migrates its database', async () => {
    open();
    const ems = await Promise.all(Array.from({ length: 10 }, () => databases.em('alpha')));
    expect(databases.openedCount).toBe(1);
    expect(new Set(ems).size).toBe(10); // each caller gets its own fork
    const applied = await query<{ name: string }>(a.url, 'SELECT name FROM schema_migrations ORDER BY name');
    expect(applied.map((r) => r.name)).toEqual(tenantMigrations.map((m) => m.name));
  });

  it('keeps two tenants in two databases', async () => {
    open();
    await databases.transactional('alpha', async (em) => {
      em.create(User, newUser('only-in-alpha'));
    });
    await databases.transactional('beta', async (em) => {
      em.create(User, newUser('only-in-beta'));
    });
    expect(databases.openedCount).toBe(2);

    const inA = await query<{ username: string }>(a.url, 'SELECT username FROM users');
    const inB = await query<{ username: string }>(b.url, 'SELECT username FROM users');
    expect(inA.map((r) => r.username)).toContain('only-in-alpha');
    expect(inA.map((r) => r.username)).not.toContain('only-in-beta');
    expect(inB.map((r) => r.username)).toContain('only-in-beta');
    expect(inB.map((r) => r.username)).not.toContain('only-in-alpha');

    const found = await (await databases.em('beta')).findOne(User, { username: 'only-in-alpha' });
    expect(found).toBeNull();
  });

  it('rolls a transaction back when the work fails', async () => {
    open();
    await expect(
      databases.transactional('alpha', async (em) => {
        em.create(User, newUser('rolled-back'));
        await em.flush();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const rows = await query(a.url, "SELECT 1 FROM users WHERE username = 'rolled-back'");
    expect(rows).toHaveLength(0);
  });

  it('closes an ORM unused for idleMs (its connections too), and reopens it on the next use', async () => {
    open(300);
    await (await databases.em('alpha')).count(User);
    expect(databases.openTenants()).toEqual(['alpha']);
    expect(await connectionsTo(a.url, a.name)).toBeGreaterThan(0);

    await sleep(900);
    expect(databases.openTenants()).toEqual([]);
    expect(await connectionsTo(a.url, a.name)).toBe(0);

    await (await databases.em('alpha')).count(User);
    expect(databases.openedCount).toBe(2);
  });

  it('does not evict a tenant while a transaction is running', async () => {
    open(200);
    await databases.transactional('alpha', async (em) => {
      await sleep(700);
      await em.count(User);
    });
    // Evicted mid-transaction, the entry would be gone and the next use would open a second ORM.
    expect(databases.openTenants()).toEqual(['alpha']);
    await databases.em('alpha');
    expect(databases.openedCount).toBe(1);
  });

  it('rejects an unknown tenant, without caching the failure', async () => {
    open();
    await expect(databases.em('nobody')).rejects.toBeInstanceOf(TenantNotFound);
    expect(databases.openTenants()).toEqual([]);
    const own = await createTestDatabase('tenant_nobody');
    urls.set('nobody', own.url);
    try {
      await expect(databases.em('nobody')).resolves.toBeDefined();
    } finally {
      urls.delete('nobody');
      await databases.close();
      await own.drop();
    }
  });

  it('runs a migration appended to the list on the next open', async () => {
    const appended = [
      ...tenantMigrations,
      { name: '9999_test_extra', up: ['CREATE TABLE test_extra (id int PRIMARY KEY)'] },
    ];
    databases = new MikroOrmTenantDatabases({
      resolveUrl: async (id) => urls.get(id),
      idleMs: 60_000,
      migrations: appended,
    });
    await databases.em('beta');
    const rows = await query<{ name: string }>(b.url, 'SELECT name FROM schema_migrations ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(appended.map((m) => m.name));
    await expect(query(b.url, 'SELECT * FROM test_extra')).resolves.toEqual([]);
  });

  it('does not let a tenant database that never finishes opening hold the shutdown', async () => {
    databases = new MikroOrmTenantDatabases({
      // The lookup of this tenant never answers, so its open never settles, as a stuck open would.
      resolveUrl: (id) =>
        id === 'stuck' ? new Promise<undefined>(() => undefined) : Promise.resolve(urls.get(id)),
      idleMs: 60_000,
      shutdownCloseWaitMs: 300,
    });
    await databases.em('alpha');
    void databases.em('stuck').catch(() => undefined);
    const started = Date.now();
    await databases.onApplicationShutdown();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(databases.openTenants()).toEqual([]);
    expect(await connectionsTo(a.url, a.name)).toBe(0);
  });

  it('closes every ORM on shutdown', async () => {
    open();
    await Promise.all([databases.em('alpha'), databases.em('beta')]);
    await databases.onApplicationShutdown();
    expect(databases.openTenants()).toEqual([]);
    expect(await connectionsTo(a.url, a.name)).toBe(0);
    expect(await connectionsTo(b.url, b.name)).toBe(0);
    await expect(databases.em('alpha')).rejects.toThrow('closed');
  });
});
