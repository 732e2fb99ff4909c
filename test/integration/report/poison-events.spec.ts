import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandBus, CqrsModule } from '@nestjs/cqrs';
import { Test, type TestingModule } from '@nestjs/testing';
import pg from 'pg';
import { EVENT_STORE } from '../../../src/application/ports/event-store.port.js';
import { LOGGER } from '../../../src/application/ports/logger.port.js';
import { OBJECT_STORAGE } from '../../../src/application/ports/object-storage.port.js';
import { SUMMARY_DOCUMENT_RENDERER } from '../../../src/application/ports/summary-document.port.js';
import {
  PROVIDER_REGISTRY,
  type PollResult,
  type ProviderAdapter,
  type ProviderRegistry,
  type ProviderRequest,
} from '../../../src/application/ports/provider.port.js';
import { SCHEDULED_WORK } from '../../../src/application/ports/scheduled-work.port.js';
import {
  DecideReport,
  DecideReportHandler,
} from '../../../src/application/report/commands/decide-report.handler.js';
import {
  PROCESS_OPTIONS,
  defaultProcessOptions,
} from '../../../src/application/report/process/process-options.js';
import { ReportWorker } from '../../../src/application/report/process/report-worker.js';
import { ScheduledWorkSubscriber } from '../../../src/application/report/process/scheduled-work.subscriber.js';
import { loadReport, reportStream } from '../../../src/application/report/report-stream.js';
import { SUBSCRIPTION_RUNTIME } from '../../../src/application/shared/checkpointed-subscription.js';
import { SubscriptionMonitor } from '../../../src/application/shared/subscription-monitor.js';
import { PROVIDER_NAMES, type ProviderName } from '../../../src/domain/report/provider-data.js';
import { ReportEventUnreadable } from '../../../src/domain/report/report.errors.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresParkedEvents } from '../../../src/infrastructure/event-store/postgres-parked-events.js';
import { isTransientDatabaseError } from '../../../src/infrastructure/event-store/transient-errors.js';
import { createLogger } from '../../../src/infrastructure/logging/pino-logger.js';
import { PdfSummaryRenderer } from '../../../src/infrastructure/report-documents/pdf-summary-renderer.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';
import { createTestDatabase } from '../../support/database.js';

/**
 * A poison event (unknown type, malformed field) in the log the process manager follows: it is parked with
 * its error and the projection moves on, so other reports keep being scheduled, and the poisoned report's
 * work stops instead of repeating provider calls. Effects are counted at the provider, per subject.
 */
class CountingProvider implements ProviderAdapter {
  readonly submits = new Map<string, number>();
  readonly polls = new Map<string, number>();
  constructor(readonly name: ProviderName) {}

  async submit({ subject }: ProviderRequest) {
    this.submits.set(subject.taxId, (this.submits.get(subject.taxId) ?? 0) + 1);
    return { jobId: `${this.name}:${subject.taxId}` };
  }

  async poll(jobId: string): Promise<PollResult> {
    const taxId = jobId.split(':')[1];
    this.polls.set(taxId, (this.polls.get(taxId) ?? 0) + 1);
    // Subjects named SLOW-… stay in progress: their report is still in flight when it is poisoned.
    return taxId.startsWith('SLOW') ? { status: 'processing', retryAfterMs: 50 } : { status: 'done' };
  }

  async openResult(): Promise<Readable> {
    return Readable.from([this.name === 'bank-transactions' ? '' : '{"score":700,"filings":[]}\n']);
  }
}

describe('poison events in the process manager', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let module: TestingModule;
  let store: PostgresEventStore;
  let pool: pg.Pool;
  let parked: PostgresParkedEvents;
  let providers: Record<ProviderName, CountingProvider>;
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase('poison');
    dir = await mkdtemp(join(tmpdir(), 'conflux-poison-'));
    store = await PostgresEventStore.create(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 5 });
    // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
    pool.on('error', () => undefined);
    await new PostgresScheduledWork(pool).migrate();
    parked = new PostgresParkedEvents(pool);
    await parked.migrate();
  });
  beforeEach(async () => {
    providers = Object.fromEntries(
      PROVIDER_NAMES.map((n) => [n, new CountingProvider(n)]),
    ) as typeof providers;
    const registry: ProviderRegistry = { list: () => [], get: (name) => providers[name] };
    module = await Test.createTestingModule({
      imports: [CqrsModule.forRoot()],
      providers: [
        { provide: EVENT_STORE, useValue: store },
        { provide: LOGGER, useValue: createLogger('silent') },
        { provide: SCHEDULED_WORK, useValue: new PostgresScheduledWork(pool, store) },
        { provide: PROVIDER_REGISTRY, useValue: registry },
        {
          provide: OBJECT_STORAGE,
          useValue: new LocalObjectStorage({
            rootDir: dir,
            secret: Buffer.alloc(32, 1),
            publicBaseUrl: 'http://localhost',
            durable: false,
          }),
        },
        {
          provide: PROCESS_OPTIONS,
          useValue: { ...defaultProcessOptions, firstPollDelayMs: 20, backoffBaseMs: 20, leaseMs: 2000 },
        },
        {
          provide: SUBSCRIPTION_RUNTIME,
          useValue: {
            maxAttempts: 3,
            retryDelayMs: 20,
            maxRetryDelayMs: 200,
            parked,
            monitor: new SubscriptionMonitor(),
            isTransient: isTransientDatabaseError,
          },
        },
        { provide: SUMMARY_DOCUMENT_RENDERER, useClass: PdfSummaryRenderer },
        DecideReportHandler,
        ReportWorker,
        ScheduledWorkSubscriber,
      ],
    }).compile();
    await module.init();
  });
  afterEach(async () => {
    await module?.close();
  });
  afterAll(async () => {
    await store.close();
    await pool.end();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const request = async (taxId: string): Promise<string> => {
    const reportId = `r${++seq}-${Date.now()}`;
    await module.get(CommandBus).execute(
      new DecideReport(
        {
          type: 'RequestReport',
          data: {
            reportId,
            tenantId: 'acme',
            requestedBy: 'u1',
            subject: { taxId },
            period: { from: '2026-01-01', to: '2026-03-31' },
            requestedAt: new Date().toISOString(),
          },
        },
        { tenantId: 'acme' },
      ),
    );
    return reportId;
  };

  const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await sleep(25);
    }
  };
  const ready = (reportId: string) =>
    until(`${reportId} is ready`, async () => {
      const report = await loadReport(store, 'acme', reportId);
      return report.status === 'ready' ? report : undefined;
    });
  const submitsOf = (taxId: string) => PROVIDER_NAMES.map((n) => providers[n].submits.get(taxId) ?? 0);
  const parkedEvent = (eventId: string) =>
    until(`event ${eventId} is parked`, async () =>
      (await parked.list('scheduled-work', 1000)).find((p) => p.eventId === eventId),
    );

  it('parks an event of an unknown type and keeps scheduling later reports, one submit per provider', async () => {
    await ready(await request('BEFORE-1'));
    const poisonId = crypto.randomUUID();
    // A newer version, in a rolling deploy, writes a shape this one does not know.
    await store.appendToStream(reportStream('acme', `rnew-${Date.now()}`), [
      { id: poisonId, type: 'ReportRequestedV9', data: { whatever: true }, metadata: { tenantId: 'acme' } },
    ]);
    const after = [await request('AFTER-1'), await request('AFTER-2')];

    for (const reportId of after) await ready(reportId);
    const poison = await parkedEvent(poisonId);

    expect(poison).toMatchObject({ type: 'ReportRequestedV9', tenantId: 'acme' });
    expect(poison.error).toMatch(/unknown event type/);
    for (const taxId of ['BEFORE-1', 'AFTER-1', 'AFTER-2']) expect(submitsOf(taxId)).toEqual([1, 1, 1]);
  });

  it('parks a malformed event of a report in flight: its work stops without repeating a call, its commands fail clearly, other reports flow', async () => {
    const poisoned = await request('SLOW-1');
    await until('the slow report is being polled', async () =>
      PROVIDER_NAMES.every((n) => (providers[n].polls.get('SLOW-1') ?? 0) > 0) ? true : undefined,
    );
    const poisonId = crypto.randomUUID();
    await store.appendToStream(reportStream('acme', poisoned), [
      {
        id: poisonId,
        type: 'ProviderPollScheduled',
        data: {
          reportId: poisoned,
          provider: 'credit-bureau',
          attempt: 99,
          dueAt: 'soon',
          scheduledAt: new Date().toISOString(),
          reason: 'retry',
        },
        metadata: { tenantId: 'acme' },
      },
    ]);
    const other = await request('OTHER-1');

    const poison = await parkedEvent(poisonId);
    await ready(other);
    await until('the poisoned report has no work left', async () =>
      (await pool.query('SELECT 1 FROM scheduled_work WHERE report_id = $1', [poisoned])).rowCount === 0
        ? true
        : undefined,
    );
    const pollsAtPark = PROVIDER_NAMES.map((n) => providers[n].polls.get('SLOW-1') ?? 0);
    await sleep(1000); // an observation window: nothing may happen in it
    const pollsLater = PROVIDER_NAMES.map((n) => providers[n].polls.get('SLOW-1') ?? 0);
    const cancel = await module
      .get(CommandBus)
      .execute(
        new DecideReport(
          {
            type: 'CancelReport',
            data: { reportId: poisoned, cancelledBy: 'u1', cancelledAt: new Date().toISOString() },
          },
          { tenantId: 'acme' },
        ),
      )
      .catch((error: unknown) => error);

    expect(poison.error).toMatch(/dueAt/);
    expect(poison.type).toBe('ProviderPollScheduled');
    expect(submitsOf('SLOW-1')).toEqual([1, 1, 1]);
    expect(submitsOf('OTHER-1')).toEqual([1, 1, 1]);
    expect(pollsLater).toEqual(pollsAtPark);
    expect(cancel).toBeInstanceOf(ReportEventUnreadable);
    expect((cancel as ReportEventUnreadable).message).toMatch(
      /ProviderPollScheduled at revision \d+ .*dueAt/,
    );
  });
});
