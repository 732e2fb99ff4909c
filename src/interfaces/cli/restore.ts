import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import pg from 'pg';
import type { Logger } from '../../application/ports/logger.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../../application/ports/tenant-databases.port.js';
import { TENANT_DIRECTORY, type TenantDirectory } from '../../application/ports/tenant-directory.port.js';
import type { AppConfig } from '../../infrastructure/config/app-config.js';
import { ConfigModule } from '../../infrastructure/config/config.module.js';
import { rebaseEventLog, type RebaseResult } from '../../infrastructure/event-store/log-rebase.js';
import { TenancyModule } from '../../infrastructure/tenancy/tenancy.module.js';

@Module({})
class RestoreModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return { module: RestoreModule, imports: [ConfigModule.forRoot(config, logger), TenancyModule] };
  }
}

export type RestoreReport = Readonly<{
  log: RebaseResult;
  /** Every tenant, with the error that kept its database from opening (and its checkpoints from following). */
  tenants: readonly Readonly<{ tenantId: string; error?: string }>[];
}>;

/**
 * `restore rebase`: after `pg_dump | psql` of the control database (and the tenant databases) into another
 * PostgreSQL cluster, re-bases the log and the control database's checkpoints onto this cluster
 * (log-rebase.ts), then opens every tenant database, which maps its projection checkpoints
 * (tenant-log-alignment.ts). Idempotent; a tenant database that cannot be reached now follows when next
 * opened. Throws for the KurrentDB event store, whose positions do not depend on PostgreSQL.
 */
export const rebaseAfterRestore = async (config: AppConfig, logger: Logger): Promise<RestoreReport> => {
  if (config.eventStore !== 'postgres')
    throw new Error('restore rebase concerns the PostgreSQL event store (EVENT_STORE=postgres) only');
  if (!config.databaseUrl) throw new Error('DATABASE_URL must name the restored control database');
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });
  pool.on('error', () => undefined);
  let log: RebaseResult;
  try {
    log = await rebaseEventLog(pool);
  } finally {
    await pool.end();
  }
  const context = await NestFactory.createApplicationContext(RestoreModule.forRoot(config, logger), {
    logger: false,
  });
  try {
    const databases = context.get<TenantDatabases>(TENANT_DATABASES);
    const tenants: { tenantId: string; error?: string }[] = [];
    for (const { id } of await context.get<TenantDirectory>(TENANT_DIRECTORY).list()) {
      try {
        await databases.em(id);
        tenants.push({ tenantId: id });
      } catch (error) {
        tenants.push({ tenantId: id, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return { log, tenants };
  } finally {
    await context.close();
  }
};

/** The report as the operator reads it: what changed, then one line per tenant. */
export const describeRestore = ({ log, tenants }: RestoreReport): string[] => [
  log.outcome === 'rebased'
    ? `event log re-based from cluster ${log.from} onto ${log.to}: ${log.events} events of ${log.transactions} ` +
      `transactions now use ${log.segments} transaction ids; checkpoints mapped: ` +
      (Object.entries(log.checkpoints)
        .map(([table, rows]) => `${table} ${rows}`)
        .join(', ') || 'none') +
      (log.burned > 0 ? ` (${log.burned} transaction ids consumed first)` : '')
    : log.outcome === 'recorded'
      ? `event log recorded as cluster ${log.identity}'s (nothing to re-base)`
      : `event log already belongs to cluster ${log.identity}: nothing to re-base`,
  ...tenants.map(({ tenantId, error }) =>
    error
      ? `tenant ${tenantId}: NOT aligned, ${error}`
      : `tenant ${tenantId}: projection checkpoints follow the log`,
  ),
];
