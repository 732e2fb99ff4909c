import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Each tenant has its own PostgreSQL database (users, read models, projection checkpoints).
 * Handlers never open one themselves: they ask this port, which knows where the tenant lives.
 *
 * ```ts
 * constructor(@Inject(TENANT_DATABASES) private readonly db: TenantDatabases) {}
 * const user = await (await this.db.em(auth.tenantId)).findOne(User, { id });
 * await this.db.transactional(tenantId, async (em) => { em.create(ReportView, {...}); });
 * ```
 * Take a fresh `em` per unit of work and do not keep it: an ORM unused for a while is closed.
 * An unknown tenant id rejects with `TenantNotFound`.
 */
export const TENANT_DATABASES = Symbol('TenantDatabases');

export interface TenantDatabases {
  /** A fresh `em.fork()` on the tenant's database. */
  em(tenantId: string): Promise<EntityManager>;
  /** Runs `work` in one transaction of the tenant's database; it commits when `work` resolves (flushing first). */
  transactional<T>(tenantId: string, work: (em: EntityManager) => Promise<T>): Promise<T>;
}
