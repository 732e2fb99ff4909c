import { Global, Module } from '@nestjs/common';
import { LOGGER, type Logger } from '../../application/ports/logger.port.js';
import { TENANT_DATABASES } from '../../application/ports/tenant-databases.port.js';
import { TENANT_DIRECTORY } from '../../application/ports/tenant-directory.port.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { CONTROL_DATABASE, ControlDatabase } from './control-database.js';
import { ConnectionBudget } from './connection-budget.js';
import { CredentialCipher } from './credential-cipher.js';
import { DatabaseKeys } from './database-identity.js';
import { PostgresTenantDirectory, templateFromDatabaseUrl } from './postgres-tenant-directory.js';
import { MikroOrmTenantDatabases } from './tenant-databases.js';
import { alignProjectionCheckpoints } from './tenant-log-alignment.js';

const controlUrl = (config: AppConfig): string => {
  if (!config.databaseUrl)
    throw new Error('DATABASE_URL is required (main starts an embedded PostgreSQL when unset)');
  return config.databaseUrl;
};

/** The control plane (tenant registry) and the per-tenant databases. */
@Global()
@Module({
  providers: [
    {
      provide: CONTROL_DATABASE,
      inject: [APP_CONFIG, LOGGER],
      useFactory: (config: AppConfig, logger: Logger) => new ControlDatabase(controlUrl(config), logger),
    },
    {
      provide: PostgresTenantDirectory,
      inject: [APP_CONFIG, LOGGER, CONTROL_DATABASE],
      useFactory: async (config: AppConfig, logger: Logger, control: ControlDatabase) => {
        const directory = new PostgresTenantDirectory({
          control: control.pool,
          cipher: new CredentialCipher(config.secrets.masterKey),
          keys: new DatabaseKeys(config.secrets.masterKey),
          databaseUrlTemplate:
            config.tenantDatabaseUrlTemplate ?? templateFromDatabaseUrl(controlUrl(config)),
          controlDatabaseUrl: controlUrl(config),
          logger: logger.child({ component: 'tenants' }),
        });
        await directory.ensureSchema();
        return directory;
      },
    },
    {
      provide: MikroOrmTenantDatabases,
      inject: [APP_CONFIG, LOGGER, PostgresTenantDirectory, CONTROL_DATABASE],
      useFactory: (
        config: AppConfig,
        logger: Logger,
        directory: PostgresTenantDirectory,
        control: ControlDatabase,
      ) => {
        const databases = new MikroOrmTenantDatabases({
          resolveUrl: (tenantId) => directory.connectionOf(tenantId),
          idleMs: config.tenantOrmIdleMs,
          // TENANT_CONNECTION_BUDGET / TENANT_CONNECTION_WAIT_MS (app-config.ts, ADR 0009).
          budget: new ConnectionBudget(config.tenantConnections.budget, config.tenantConnections.waitMs),
          logger,
          // Projection checkpoints follow a re-base of the log after a restore (ADR 0024).
          prepare: async (em, tenantId) => {
            const alignment = await alignProjectionCheckpoints(em, control.pool, tenantId);
            if (alignment === 'rebased')
              logger.info({ tenantId }, 'projection checkpoints re-based onto the restored event log');
          },
        });
        directory.attach(databases);
        return databases;
      },
    },
    { provide: TENANT_DATABASES, useExisting: MikroOrmTenantDatabases },
    { provide: TENANT_DIRECTORY, useExisting: PostgresTenantDirectory },
  ],
  exports: [CONTROL_DATABASE, TENANT_DATABASES, TENANT_DIRECTORY, MikroOrmTenantDatabases],
})
export class TenancyModule {}
