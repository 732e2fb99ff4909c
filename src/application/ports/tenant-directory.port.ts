import type { EntityManager } from '@mikro-orm/postgresql';

/** The control plane's view of tenants: which exist, and how a new one comes to life. */
export const TENANT_DIRECTORY = Symbol('TenantDirectory');

/** `provisioning` while its database is being prepared; only `active` tenants accept logins and tokens. */
export type TenantStatus = 'provisioning' | 'active' | 'disabled';

export type Tenant = Readonly<{
  id: string;
  name: string;
  status: TenantStatus;
  selfSignup: boolean;
  createdAt: Date;
}>;

export type NewTenant = Readonly<{
  id: string;
  name: string;
  selfSignup: boolean;
  /** An existing database to use; omitted, a new database is created for the tenant. */
  databaseUrl?: string;
}>;

export interface TenantDirectory {
  find(tenantId: string): Promise<Tenant | undefined>;
  /** Oldest first. */
  list(): Promise<Tenant[]>;
  /**
   * Reserves the id (`TenantAlreadyExists` when taken), creates the database unless one is given, runs the
   * tenant migrations, runs `seed` in one transaction of that database, then activates the tenant.
   * On failure it undoes what it did (drops a database it created, releases the id), so a retry works.
   */
  provision(tenant: NewTenant, seed: (em: EntityManager) => Promise<void>): Promise<Tenant>;
}
