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
