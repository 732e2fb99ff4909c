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
  TenantDatabaseUnusable,
} from '../../domain/tenant/tenant.errors.js';
import { redactSecrets } from '../logging/pino-logger.js';
import { migrateSchema } from '../postgres/transaction.js';
import type { CredentialCipher } from './credential-cipher.js';
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
  /** Where new tenant databases are created; `{db}` is replaced by the database name. */
  databaseUrlTemplate: string;
  logger: Logger;
}>;

/**
 * The tenant registry in the control database (`tenants`) and tenant provisioning. Connection strings
 * are stored only encrypted (AES-256-GCM under MASTER_KEY, bound to the tenant id).
 */
export class PostgresTenantDirectory implements TenantDirectory {
  private databases: MikroOrmTenantDatabases | undefined;

  constructor(private readonly options: PostgresTenantDirectoryOptions) {}

  /** The tenant databases depend on this registry to resolve URLs, and provisioning on them: wired after both exist. */
  attach(databases: MikroOrmTenantDatabases): void {
    this.databases = databases;
  }

  /** Creates the registry table; idempotent, and safe when several instances start at once. */
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
        )`,
    );
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

  /** The decrypted connection string; only the tenant databases ask for it. */
  async connectionOf(tenantId: string): Promise<string | undefined> {
    const { rows } = await this.options.control.query<{ encrypted_connection: string }>(
      'SELECT encrypted_connection FROM tenants WHERE id = $1',
      [tenantId],
    );
    const encrypted = rows[0]?.encrypted_connection;
    return encrypted === undefined ? undefined : this.options.cipher.decrypt(encrypted, tenantId);
  }

  async provision(tenant: NewTenant, seed: (em: EntityManager) => Promise<void>): Promise<Tenant> {
    const databases = this.databases;
    if (!databases) throw new Error('PostgresTenantDirectory: tenant databases not attached');
    const managed = tenant.databaseUrl === undefined;
    const database = tenantDatabaseName(tenant.id);
    const url = tenant.databaseUrl ?? this.options.databaseUrlTemplate.replaceAll('{db}', database);
    const log = this.options.logger.child({ tenantId: tenant.id });

    // 1. Reserve the id. Concurrent creates of one id meet here: exactly one gets the row.
    const { rows } = await this.options.control.query<{ previously_managed: boolean | null }>(
      `WITH previous AS (SELECT managed_database FROM tenants WHERE id = $1)
       INSERT INTO tenants (id, name, status, self_signup, managed_database, encrypted_connection, created_at)
       VALUES ($1, $2, 'provisioning', $3, $4, $5, now())
       ON CONFLICT (id) DO UPDATE SET
         name = EXCLUDED.name, self_signup = EXCLUDED.self_signup, managed_database = EXCLUDED.managed_database,
         encrypted_connection = EXCLUDED.encrypted_connection, created_at = now()
       WHERE tenants.status = 'provisioning' AND tenants.created_at < now() - interval '${ABANDONED_AFTER}'
       RETURNING (SELECT managed_database FROM previous) AS previously_managed`,
      [tenant.id, tenant.name, tenant.selfSignup, managed, this.options.cipher.encrypt(url, tenant.id)],
    );
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
        await databases.em(tenant.id);
      } catch (error) {
        if (managed || error instanceof DomainError) throw error;
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

  private async undo(tenantId: string, database: string, created: boolean, log: Logger): Promise<void> {
    try {
      await this.databases?.evict(tenantId);
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
        await client.query(`CREATE DATABASE "${database}"`);
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
    const client = new pg.Client({
      connectionString: this.options.databaseUrlTemplate.replaceAll('{db}', 'postgres'),
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}

const describe = (error: unknown) =>
  error instanceof Error
    ? { type: error.name, code: (error as { code?: unknown }).code, message: redactSecrets(error.message) }
    : { message: 'non-error thrown' };
