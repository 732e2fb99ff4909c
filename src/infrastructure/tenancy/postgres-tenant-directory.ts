import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from '../../application/ports/logger.port.js';
import type {
  NewTenant,
  Tenant,
  TenantDirectory,
  TenantStatus,
} from '../../application/ports/tenant-directory.port.js';
import { DomainError } from '../../domain/shared/decider.js';
import {
  TenantAlreadyExists,
  TenantDatabaseExists,
  TenantDatabaseInUse,
  TenantDatabaseReserved,
  TenantDatabaseUnavailable,
  TenantDatabaseUnusable,
} from '../../domain/tenant/tenant.errors.js';
import { redactSecrets } from '../logging/pino-logger.js';
import { migrateSchema } from '../postgres/transaction.js';
import type { CredentialCipher } from './credential-cipher.js';
import { type DatabaseKeys, reservedDatabase, SYSTEM_DATABASES } from './database-identity.js';
import type { MikroOrmTenantDatabases } from './tenant-databases.js';

/** The database a tenant gets when the operator gives none. Tenant ids are `^[a-z][a-z0-9]{1,30}$`. */
export const tenantDatabaseName = (tenantId: string): string => {
  if (!/^[a-z][a-z0-9]{1,30}$/.test(tenantId)) throw new Error(`Invalid tenant id ${tenantId}`);
  return `conflux_tenant_${tenantId}`;
};

/** `postgres://u:p@host:5432/control` → `postgres://u:p@host:5432/{db}`: tenants beside the control database. */
export const templateFromDatabaseUrl = (databaseUrl: string): string => {
  const url = new URL(databaseUrl);
  url.pathname = '/__conflux_db__';
  return url.toString().replace('__conflux_db__', '{db}');
};

/** A tenant left in `provisioning` this long was abandoned by a crashed instance: its id may be reclaimed. */
const ABANDONED_AFTER = '15 minutes';

type Row = {
  id: string;
  name: string;
  status: TenantStatus;
  self_signup: boolean;
  created_at: Date;
};

const toTenant = (row: Row): Tenant => ({
  id: row.id,
  name: row.name,
  status: row.status,
  selfSignup: row.self_signup,
  createdAt: row.created_at,
});

const PUBLIC_COLUMNS = 'id, name, status, self_signup, created_at';

export type PostgresTenantDirectoryOptions = Readonly<{
  control: pg.Pool;
  cipher: CredentialCipher;
  /** The keyed hash of a database's identity (one tenant, one database). */
  keys: DatabaseKeys;
  /**
   * Where tenant databases Conflux creates live, read at every open (so they follow the cluster when its
   * host, port or credentials change); `{db}` is replaced by the database name.
   */
  databaseUrlTemplate: string;
  /** DATABASE_URL: a tenant is never given the control database. */
  controlDatabaseUrl: string;
  logger: Logger;
}>;

/**
 * The tenant registry in the control database (`tenants`) and tenant provisioning. A database Conflux
 * created (managed) is stored by name only and reached through the current `databaseUrlTemplate`; a
 * database the operator gave is stored as its connection string. Both are stored encrypted (AES-256-GCM
 * under MASTER_KEY, bound to the tenant id). Each row carries the keyed hash of its database's identity under a unique
 * index: a database registered to one tenant is refused to another (409).
 */
export class PostgresTenantDirectory implements TenantDirectory {
  private databases: MikroOrmTenantDatabases | undefined;

  constructor(private readonly options: PostgresTenantDirectoryOptions) {}

  /** The tenant databases depend on this registry to resolve URLs, and provisioning on them: wired after both exist. */
  attach(databases: MikroOrmTenantDatabases): void {
    this.databases = databases;
  }

  /**
   * Creates the registry table and brings rows stored by earlier versions up to date: a managed tenant's
   * stored URL (which carried the cluster's port of its day) becomes its database name, and every row
   * gets its database key. Idempotent, and safe when several instances start at once (one advisory lock,
   * one transaction).
   */
  ensureSchema(): Promise<void> {
    return migrateSchema(
      this.options.control,
      'conflux.tenants',
      `
        CREATE TABLE IF NOT EXISTS tenants (
          id text PRIMARY KEY,
          name text NOT NULL,
          status text NOT NULL CHECK (status IN ('provisioning', 'active', 'disabled')),
          self_signup boolean NOT NULL DEFAULT false,
          -- true when Conflux created the database (and may drop it if provisioning fails)
          managed_database boolean NOT NULL,
          encrypted_connection text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        -- managed: the database name (reached through the current template); given: the URL. Both encrypted.
        ALTER TABLE tenants ADD COLUMN IF NOT EXISTS encrypted_database_name text;
        ALTER TABLE tenants ALTER COLUMN encrypted_connection DROP NOT NULL;
        -- HMAC of the database's host, port and name: one tenant, one database
        ALTER TABLE tenants ADD COLUMN IF NOT EXISTS database_key text;
        CREATE UNIQUE INDEX IF NOT EXISTS tenants_database_key ON tenants (database_key)`,
      (client) => this.upgradeRows(client),
    );
  }

  /** Rows written before database names and keys: see `ensureSchema`. Runs under its lock. */
  private async upgradeRows(client: pg.PoolClient): Promise<void> {
    const { rows } = await client.query<{
      id: string;
      managed_database: boolean;
      encrypted_connection: string | null;
      encrypted_database_name: string | null;
      database_key: string | null;
    }>(
      `SELECT id, managed_database, encrypted_connection, encrypted_database_name, database_key FROM tenants
       WHERE (managed_database AND encrypted_database_name IS NULL) OR database_key IS NULL
       ORDER BY created_at, id`,
    );
    if (rows.length === 0) return;
    const taken = new Map(
      (
        await client.query<{ id: string; database_key: string }>(
          'SELECT id, database_key FROM tenants WHERE database_key IS NOT NULL',
        )
      ).rows.map((r) => [r.database_key, r.id]),
    );
    for (const row of rows) {
      const log = this.options.logger.child({ tenantId: row.id });
      let url: string | undefined;
      let name: string | undefined;
      try {
        url = row.encrypted_connection
          ? this.options.cipher.decrypt(row.encrypted_connection, row.id)
          : undefined;
        name = row.encrypted_database_name
          ? this.options.cipher.decrypt(row.encrypted_database_name, row.id)
          : undefined;
      } catch {
        log.error('stored tenant connection does not decrypt (MASTER_KEY changed?)');
      }
      if (row.managed_database && name === undefined)
        name = (url && databaseNameIn(url)) || tenantDatabaseName(row.id);
      const current = row.managed_database && name !== undefined ? this.managedUrl(name) : url;
      let key = row.database_key;
      if (key === null && current) {
        key = this.options.keys.of(current);
        const owner = taken.get(key);
        if (owner !== undefined) {
          // Two tenants already share a database: the older keeps it; the tenant marker refuses the other.
          log.error({ sharedWith: owner }, 'tenant shares its database with another tenant');
          key = null;
        } else taken.set(key, row.id);
      }
      const managedName = row.managed_database && name !== undefined;
      await client.query(
        `UPDATE tenants SET encrypted_database_name = $2, database_key = $3,
           encrypted_connection = CASE WHEN $2::text IS NULL THEN encrypted_connection END
         WHERE id = $1`,
        [row.id, managedName ? this.options.cipher.encrypt(name as string, row.id) : null, key],
      );
    }
    this.options.logger.info({ tenants: rows.length }, 'tenant registry rows upgraded');
  }

  private managedUrl(database: string): string {
    return this.options.databaseUrlTemplate.replaceAll('{db}', database);
  }

  async find(tenantId: string): Promise<Tenant | undefined> {
    const { rows } = await this.options.control.query<Row>(
      `SELECT ${PUBLIC_COLUMNS} FROM tenants WHERE id = $1`,
      [tenantId],
    );
    return rows[0] ? toTenant(rows[0]) : undefined;
  }

  async list(): Promise<Tenant[]> {
    const { rows } = await this.options.control.query<Row>(
      `SELECT ${PUBLIC_COLUMNS} FROM tenants ORDER BY created_at, id`,
    );
    return rows.map(toTenant);
  }

  /**
   * The tenant's connection string as of now; only the tenant databases ask for it. A managed database is
   * reached through the current template (the cluster may have moved since it was created); a given one
   * through the decrypted URL the operator gave.
   */
  async connectionOf(tenantId: string): Promise<string | undefined> {
    const { rows } = await this.options.control.query<{
      encrypted_connection: string | null;
      encrypted_database_name: string | null;
    }>('SELECT encrypted_connection, encrypted_database_name FROM tenants WHERE id = $1', [tenantId]);
    const row = rows[0];
    if (!row) return undefined;
    if (row.encrypted_database_name !== null)
      return this.managedUrl(this.options.cipher.decrypt(row.encrypted_database_name, tenantId));
    return row.encrypted_connection === null
      ? undefined
      : this.options.cipher.decrypt(row.encrypted_connection, tenantId);
  }

  async provision(tenant: NewTenant, seed: (em: EntityManager) => Promise<void>): Promise<Tenant> {
    const databases = this.databases;
    if (!databases) throw new Error('PostgresTenantDirectory: tenant databases not attached');
    const managed = tenant.databaseUrl === undefined;
    const database = tenantDatabaseName(tenant.id);
    const url = tenant.databaseUrl ?? this.managedUrl(database);
    const log = this.options.logger.child({ tenantId: tenant.id });
    const reserved = managed ? undefined : reservedDatabase(url, this.options.controlDatabaseUrl);
    if (reserved) throw new TenantDatabaseReserved(reserved);

    // 1. Reserve the id and the database. Concurrent creates of one id meet on the primary key, of one
    //    database on the unique key: exactly one gets the row.
    let rows: { previously_managed: boolean | null }[];
    try {
      ({ rows } = await this.options.control.query<{ previously_managed: boolean | null }>(
        `WITH previous AS (SELECT managed_database FROM tenants WHERE id = $1)
         INSERT INTO tenants (id, name, status, self_signup, managed_database, encrypted_connection,
                              encrypted_database_name, database_key, created_at)
         VALUES ($1, $2, 'provisioning', $3, $4, $5, $6, $7, now())
         ON CONFLICT (id) DO UPDATE SET
           name = EXCLUDED.name, self_signup = EXCLUDED.self_signup, managed_database = EXCLUDED.managed_database,
           encrypted_connection = EXCLUDED.encrypted_connection,
           encrypted_database_name = EXCLUDED.encrypted_database_name,
           database_key = EXCLUDED.database_key, created_at = now()
         WHERE tenants.status = 'provisioning' AND tenants.created_at < now() - interval '${ABANDONED_AFTER}'
         RETURNING (SELECT managed_database FROM previous) AS previously_managed`,
        [
          tenant.id,
          tenant.name,
          tenant.selfSignup,
          managed,
          managed ? null : this.options.cipher.encrypt(url, tenant.id),
          managed ? this.options.cipher.encrypt(database, tenant.id) : null,
          this.options.keys.of(url),
        ],
      ));
    } catch (error) {
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code === '23505' && constraint === 'tenants_database_key') throw new TenantDatabaseInUse();
      throw error;
    }
    if (rows.length === 0) throw new TenantAlreadyExists(tenant.id);

    let created = false;
    try {
      // 2. The database. An abandoned attempt of ours may have left it behind; anything else is not ours.
      if (managed) {
        if (rows[0]?.previously_managed) await this.dropDatabase(database);
        await this.createDatabase(database);
        created = true;
      }
      // 3. Open (which migrates) — a database given by the operator may be unreachable or unsuitable.
      try {
        if (!managed) await this.refuseReservedByContent(url, tenant.id);
        await databases.em(tenant.id);
      } catch (error) {
        // Unreachable is the operator's URL being wrong here (422), not an outage of a tenant that exists.
        if (managed || (error instanceof DomainError && !(error instanceof TenantDatabaseUnavailable)))
          throw error;
        log.warn({ err: describe(error) }, 'given tenant database is unusable');
        throw new TenantDatabaseUnusable();
      }
      // 4. Seed (the admin user), then 5. activate.
      await databases.transactional(tenant.id, seed);
      const activated = await this.options.control.query<Row>(
        `UPDATE tenants SET status = 'active' WHERE id = $1 RETURNING ${PUBLIC_COLUMNS}`,
        [tenant.id],
      );
      log.info({ managedDatabase: managed }, 'tenant provisioned');
      return toTenant(activated.rows[0]);
    } catch (error) {
      await this.undo(tenant.id, database, created, log);
      throw error;
    }
  }

  /**
   * The URL check (`reservedDatabase`) cannot see through every spelling (another port or a proxy to the
   * same server), so the database itself is asked, before anything is migrated into it: a system database
   * by `current_database()`, and the control database by the row this very provisioning reserved, which
   * only the control database holds. Throws TenantDatabaseReserved; connection errors propagate.
   */
  private async refuseReservedByContent(url: string, tenantId: string): Promise<void> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; control: boolean }>(
        `SELECT current_database() AS name,
                to_regclass('tenants') IS NOT NULL
                  AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('tenants') AND attname = 'database_key')
                  AS control`,
      );
      if (SYSTEM_DATABASES.has(rows[0]?.name ?? '')) throw new TenantDatabaseReserved('system');
      if (!rows[0]?.control) return;
      const mine = await client.query(
        "SELECT 1 FROM tenants WHERE id = $1 AND status = 'provisioning' AND database_key = $2",
        [tenantId, this.options.keys.of(url)],
      );
      if ((mine.rowCount ?? 0) > 0) throw new TenantDatabaseReserved('control');
    } finally {
      await client.end();
    }
  }

  private async undo(tenantId: string, database: string, created: boolean, log: Logger): Promise<void> {
    try {
      await this.databases?.forget(tenantId);
      if (created) await this.dropDatabase(database);
      await this.options.control.query("DELETE FROM tenants WHERE id = $1 AND status = 'provisioning'", [
        tenantId,
      ]);
    } catch (error) {
      // The original failure is what the caller needs; this one is for the operator.
      log.error({ err: describe(error) }, 'could not undo a failed tenant provisioning');
    }
  }

  private async createDatabase(database: string): Promise<void> {
    await this.onMaintenanceDatabase(async (client) => {
      try {
        await client.query(
          // From the pristine template0: whatever was left in template1 (a table, a tenant marker) is
          // never copied into a tenant. template0 carries the encoding and locale initdb gave the cluster.
          `CREATE DATABASE "${database}" TEMPLATE template0`,
        );
      } catch (error) {
        if ((error as { code?: string }).code === '42P04') throw new TenantDatabaseExists(database);
        throw error;
      }
    });
  }

  private async dropDatabase(database: string): Promise<void> {
    await this.onMaintenanceDatabase((client) =>
      client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
    );
  }

  /** CREATE/DROP DATABASE run outside any transaction, on the template's cluster. */
  private async onMaintenanceDatabase<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.managedUrl('postgres') });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}

/** The database named by a URL's path, or undefined when it names none. */
const databaseNameIn = (url: string): string | undefined => {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || undefined;
  } catch {
    return undefined;
  }
};

const describe = (error: unknown) =>
  error instanceof Error
    ? { type: error.name, code: (error as { code?: unknown }).code, message: redactSecrets(error.message) }
    : { message: 'non-error thrown' };
