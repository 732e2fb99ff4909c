import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { userInfo } from 'node:os';
import { ParkedEventsService } from '../../application/projections/parked-events.service.js';
import { ProjectionAdminService } from '../../application/projections/projection-admin.service.js';
import type { Logger } from '../../application/ports/logger.port.js';
import { type AppConfig, loadConfig } from '../../infrastructure/config/app-config.js';
import { ConfigModule } from '../../infrastructure/config/config.module.js';
import { EventStoreModule } from '../../infrastructure/event-store/event-store.module.js';
import { createLogger } from '../../infrastructure/logging/pino-logger.js';
import { TenancyModule } from '../../infrastructure/tenancy/tenancy.module.js';
import { projectionAdminProviders } from '../http/admin/admin.module.js';
import { describeRestore, rebaseAfterRestore } from './restore.js';

/**
 * `npm run conflux -- <command>`: the operator's CLI (commander). It runs the same application services
 * as the admin API, in-process against the control database (DATABASE_URL, and the same secrets as the
 * server): no HTTP, no worker, no projections of its own.
 *
 *   projections list                         every projection, its checkpoint, lag and parked events
 *   projections rebuild --tenant <id>        rebuilds a tenant's reports read model, with a progress bar
 *   parked list [--subscription <name>]      events a subscription parked
 *   parked retry|skip <subscription> <id>    acts on one (recorded, with the user running the CLI)
 *   restore rebase                           after a pg_dump restore into another cluster (ADR 0024)
 */
@Module({})
class OperatorModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: OperatorModule,
      imports: [ConfigModule.forRoot(config, logger), EventStoreModule, TenancyModule],
      providers: [...projectionAdminProviders],
    };
  }
}

const withServices = async <T>(
  work: (services: { admin: ProjectionAdminService; parked: ParkedEventsService }) => Promise<T>,
) => {
  const config = loadConfig(process.env);
  if (!config.databaseUrl) throw new InvalidArgumentError('DATABASE_URL must name the control database');
  const logger = createLogger(process.env.LOG_LEVEL === undefined ? 'warn' : config.logLevel);
  const context = await NestFactory.createApplicationContext(OperatorModule.forRoot(config, logger), {
    logger: false,
  });
  try {
    return await work({
      admin: context.get(ProjectionAdminService),
      parked: context.get(ParkedEventsService),
    });
  } finally {
    await context.close();
  }
};

const program = new Command('conflux').description('Conflux operator commands').showHelpAfterError();
const projections = program.command('projections').description('read models and their rebuilds');

projections
  .command('list')
  .description('every projection: status, checkpoint, lag (events behind, up to 1,000) and parked events')
  .action(() =>
    withServices(async ({ admin }) => {
      console.table(await admin.list());
    }),
  );

projections
  .command('rebuild')
  .description("rebuilds a tenant's read model beside the live one and switches it in (reads never stop)")
  .requiredOption('--tenant <id>', 'the tenant whose read model to rebuild')
  .option('--projection <name>', 'the projection', 'reports')
  .action((options: { tenant: string; projection: string }) =>
    withServices(async ({ admin }) => {
      const bar = process.stdout.isTTY
        ? new SingleBar({ format: 'rebuilding {bar} {value} events applied, {lag} behind, {rate} events/s' })
        : undefined;
      const started = Date.now();
      bar?.start(1, 0, { lag: '?', rate: 0 });
      const result = await admin.rebuildAndWait(options.projection, options.tenant, (applied, lag) => {
        const rate = Math.round(applied / Math.max(0.001, (Date.now() - started) / 1000));
        if (bar) {
          bar.setTotal(applied + (lag ?? 0));
          bar.update(applied, { lag: lag ?? '?', rate });
        } else console.log(`${applied} events applied, ${lag ?? '?'} behind`);
      });
      bar?.stop();
      console.log(
        `${result.status}: ${result.eventsApplied} events into a new ${result.name} read model for ${result.tenantId}` +
          ` (${result.eventsPerSecond} events/s)${result.error ? `: ${result.error}` : ''}`,
      );
      if (result.status !== 'completed') process.exitCode = 1;
    }),
  );

const parked = program.command('parked').description('events a subscription could not apply');
/** Recorded with every action: who ran the CLI. */
const actor = () => `cli:${userInfo().username}`;

parked
  .command('list')
  .option('--subscription <name>', 'one subscription (e.g. reports:acme, scheduled-work)')
  .action((options: { subscription?: string }) =>
    withServices(async ({ parked: service }) => {
      console.table(
        (await service.list(options.subscription)).map((e) => ({
          subscription: e.subscription,
          eventId: e.eventId,
          stream: e.streamName,
          revision: e.revision,
          type: e.type,
          attempts: e.attempts,
          parkedAt: e.parkedAt.toISOString(),
          error: e.error,
        })),
      );
    }),
  );

for (const [name, description] of [
  ['retry', 'applies a parked event again (after a fix is deployed) and takes it off the list'],
  ['skip', 'takes a parked event off the list without applying it'],
] as const) {
  parked
    .command(`${name} <subscription> <eventId>`)
    .description(description)
    .action((subscription: string, eventId: string) =>
      withServices(async ({ parked: service }) => {
        const done = await service[name](subscription, eventId, actor());
        console.log(`${done.action}: ${done.event.type} at ${done.event.streamName}@${done.event.revision}`);
      }),
    );
}

program
  .command('restore')
  .description('after restoring the databases from pg_dump into another PostgreSQL cluster')
  .command('rebase')
  .description(
    "re-bases the event log's positions and every checkpoint onto this cluster (idempotent; run with Conflux stopped)",
  )
  .action(async () => {
    const config = loadConfig(process.env);
    const logger = createLogger(process.env.LOG_LEVEL === undefined ? 'warn' : config.logLevel);
    const report = await rebaseAfterRestore(config, logger);
    for (const line of describeRestore(report)) console.log(line);
    if (report.tenants.some((t) => t.error)) process.exitCode = 1;
  });

try {
  await program.parseAsync();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
