import { User } from '../../application/user/user.entity.js';

/**
 * Every entity mapped in a tenant database. A feature appends its entities here and the tables they need
 * to `tenantMigrations` (tenant-migrations.ts); nothing else has to change.
 */
export const tenantEntities = [User];
