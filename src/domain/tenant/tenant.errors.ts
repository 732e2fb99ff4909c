import { DomainError } from '../shared/decider.js';

export class TenantAlreadyExists extends DomainError {
  constructor(tenantId: string) {
    super('tenant_already_exists', `Tenant ${tenantId} already exists.`);
  }
}

/** The database a new tenant would get is already there (left by someone else): never reuse or drop it. */
export class TenantDatabaseExists extends DomainError {
  constructor(database: string) {
    super('tenant_database_exists', `Database ${database} already exists; remove it or pass a databaseUrl.`);
  }
}

export class TenantNotFound extends DomainError {
  constructor(tenantId: string) {
    super('tenant_not_found', `Tenant ${tenantId} not found.`);
  }
}

/** The database the operator gave could not be opened or migrated (unreachable, refused, incompatible). */
export class TenantDatabaseUnusable extends DomainError {
  constructor() {
    super('tenant_database_unusable', 'The given database could not be opened or migrated.');
  }
}

/**
 * The database the operator gave is one the service or the cluster needs for itself: a system database
 * (`template0`, `template1`, `postgres`) or the control database. Refused before anything is migrated.
 */
export class TenantDatabaseReserved extends DomainError {
  constructor(what: 'system' | 'control') {
    super(
      'tenant_database_reserved',
      `databaseUrl names ${what === 'system' ? "one of the cluster's system databases" : 'the control database'}; give a database of the tenant's own.`,
    );
  }
}

/**
 * The tenant's database cannot be reached now (refused, timed out, shutting down, too many connections).
 * Only this tenant's requests answer 503; `retryAfterSeconds` becomes `Retry-After`.
 */
export class TenantDatabaseUnavailable extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('tenant_database_unavailable', 'The tenant database is unavailable; try again later.');
  }
}

/**
 * The database already belongs to another tenant: registered under another tenant (the same host, port and
 * database name), or carrying another tenant's marker. One tenant, one database — never another's data.
 */
export class TenantDatabaseInUse extends DomainError {
  constructor() {
    super('tenant_database_in_use', 'The database is already used by another tenant.');
  }
}

/**
 * Every connection the process may open to tenant databases is in use and none freed in time: a load
 * peak, not this tenant's fault. 503; `retryAfterSeconds` becomes `Retry-After`.
 */
export class TenantConnectionsExhausted extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('tenant_connections_exhausted', 'Too many tenant database connections in use; try again later.');
  }
}
