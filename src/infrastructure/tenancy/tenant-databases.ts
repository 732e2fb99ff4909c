import { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../../application/ports/logger.port.js';
import type { TenantDatabases } from '../../application/ports/tenant-databases.port.js';
import { TenantNotFound } from '../../domain/tenant/tenant.errors.js';
import { redactSecrets } from '../logging/pino-logger.js';
import { tenantEntities } from './tenant-entities.js';
import { type TenantMigration, tenantMigrations } from './tenant-migrations.js';
import { migrateTenantDatabase } from './tenant-migrator.js';

export type TenantDatabasesOptions = Readonly<{
  /** The tenant's connection string, or undefined when the tenant does not exist. */
  resolveUrl: (tenantId: string) => Promise<string | undefined>;
  /** An ORM unused for this long is closed (its pool with it). */
  idleMs: number;
  /** Connections per tenant database; tenants are many, so each pool stays small. */
  poolMax?: number;
  logger?: Logger;
  migrations?: readonly TenantMigration[];
}>;

type Entry = {
  readonly orm: Promise<MikroORM>;
  lastUsed: number;
  /** Transactions running now: an entry with work in flight is never evicted. */
  active: number;
};

/**
 * The one place that knows how a tenant database is opened. MikroORM holds one connection pool per
 * instance, so each tenant database gets its own instance: opened on first use (the *promise* is cached,
 * so concurrent first requests share one instance), migrated when opened, closed after `idleMs` without
 * use, and all closed on shutdown.
 */
export class MikroOrmTenantDatabases implements TenantDatabases {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;
  /** Instances opened since start (observability, and proof in tests that opening is shared). */
  openedCount = 0;

  constructor(private readonly options: TenantDatabasesOptions) {
    this.sweeper = setInterval(
      () => void this.evictIdle(),
      Math.max(50, Math.min(options.idleMs / 4, 30_000)),
    );
    this.sweeper.unref();
  }

  async em(tenantId: string): Promise<EntityManager> {
    const entry = this.entry(tenantId);
    const orm = await entry.orm;
    entry.lastUsed = Date.now();
    return orm.em.fork();
  }

  async transactional<T>(tenantId: string, work: (em: EntityManager) => Promise<T>): Promise<T> {
    const entry = this.entry(tenantId);
    entry.active += 1;
    try {
      const orm = await entry.orm;
      return await orm.em.fork().transactional(work);
    } finally {
      entry.active -= 1;
      entry.lastUsed = Date.now();
    }
  }

  /** Tenants with an ORM open now. */
  openTenants(): string[] {
    return [...this.entries.keys()];
  }

  /** Closes one tenant's ORM now (e.g. before its database is dropped). */
  async evict(tenantId: string): Promise<void> {
    const entry = this.entries.get(tenantId);
    if (!entry) return;
    this.entries.delete(tenantId);
    await this.closeEntry(tenantId, entry);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    const all = [...this.entries];
    this.entries.clear();
    await Promise.all(all.map(([tenantId, entry]) => this.closeEntry(tenantId, entry)));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private entry(tenantId: string): Entry {
    if (this.closing) throw new Error('Tenant databases are closed');
    const existing = this.entries.get(tenantId);
    if (existing) {
      existing.lastUsed = Date.now();
      return existing;
    }
    const entry: Entry = { orm: this.open(tenantId), lastUsed: Date.now(), active: 0 };
    this.entries.set(tenantId, entry);
    // A failed open is not cached: the next request tries again.
    entry.orm.catch(() => {
      if (this.entries.get(tenantId) === entry) this.entries.delete(tenantId);
    });
    return entry;
  }

  private async open(tenantId: string): Promise<MikroORM> {
    const url = await this.options.resolveUrl(tenantId);
    if (!url) throw new TenantNotFound(tenantId);
    this.openedCount += 1;
    const log = this.options.logger?.child({ tenantId, component: 'tenant-databases' });
    const orm = await MikroORM.init({
      clientUrl: url,
      entities: tenantEntities,
      pool: { min: 0, max: this.options.poolMax ?? 5, idleTimeoutMillis: 30_000 },
      // The database exists (we created it, or the operator gave it): never create one implicitly.
      ensureDatabase: false,
      allowGlobalContext: false,
      debug: false,
      colors: false,
      logger: (message) => log?.debug(redactSecrets(message)),
    });
    try {
      const applied = await migrateTenantDatabase(orm.em.fork(), this.options.migrations ?? tenantMigrations);
      if (applied.length > 0) log?.info({ migrations: applied }, 'tenant database migrated');
    } catch (error) {
      await orm.close();
      throw error;
    }
    log?.debug('tenant database opened');
    return orm;
  }

  private async evictIdle(): Promise<void> {
    const now = Date.now();
    for (const [tenantId, entry] of this.entries) {
      if (entry.active === 0 && now - entry.lastUsed >= this.options.idleMs) {
        this.entries.delete(tenantId);
        await this.closeEntry(tenantId, entry);
      }
    }
  }

  private async closeEntry(tenantId: string, entry: Entry): Promise<void> {
    try {
      const orm = await entry.orm;
      await orm.close();
      this.options.logger?.debug({ tenantId, component: 'tenant-databases' }, 'tenant database closed');
    } catch {
      // It never opened (already reported to its caller) or is already gone: nothing to close.
    }
  }
}
