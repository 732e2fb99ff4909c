import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Test, type TestingModule } from '@nestjs/testing';
import { CommandBus, CqrsModule } from '@nestjs/cqrs';
import pg from 'pg';
import { EVENT_STORE } from '../../../src/application/ports/event-store.port.js';
import { LOGGER } from '../../../src/application/ports/logger.port.js';
import { OBJECT_STORAGE } from '../../../src/application/ports/object-storage.port.js';
import {
  PROVIDER_REGISTRY,
  ProviderRejectedError,
  ProviderUnavailableError,
  type PollResult,
  type ProviderAdapter,
  type ProviderRegistry,
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
import { reportStream } from '../../../src/application/report/report-stream.js';
import { PROVIDER_NAMES, type ProviderName } from '../../../src/domain/report/provider-data.js';
import { type Report, reportDecider } from '../../../src/domain/report/report.decider.js';
import { readReportEvent } from '../../../src/application/report/report-event-codec.js';
import { fold } from '../../../src/domain/shared/decider.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { createLogger } from '../../../src/infrastructure/logging/pino-logger.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';
import { createTestDatabase } from '../../support/database.js';

/**
 * The process manager (scheduled-work subscriber + leased worker) on the real event store and table,
 * with scripted provider adapters (a fake at the port) to reach every branch: Retry-After, transient and
 * permanent errors, deadlines, a result stream cut halfway, cancellation.
 */
type Script = {
  submit?: (call: number) => Promise<{ jobId: string }>;
  poll?: (call: number) => Promise<PollResult>;
  open?: (call: number) => Promise<Readable>;
};

const rows = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `t${i}`,
      accountId: 'a1',
      date: '2026-01-15',
      amount: i % 2 ? -10.5 : 100,
      currency: 'EUR',
      description: 'x',
      counterparty: 'y',
      category: 'groceries',
    }),
  ).join('\n') + '\n';

class ScriptedProvider implements ProviderAdapter {
  readonly calls = { submit: 0, poll: [] as number[], open: 0 };
  constructor(
    readonly name: ProviderName,
    private readonly script: Script = {},
  ) {}

  async submit() {
    this.calls.submit++;
    return this.script.submit ? this.script.submit(this.calls.submit) : { jobId: `${this.name}-job` };
  }

  async poll(): Promise<PollResult> {
    this.calls.poll.push(Date.now());
    return this.script.poll ? this.script.poll(this.calls.poll.length) : { status: 'done' };
  }

  async openResult(): Promise<Readable> {
    this.calls.open++;
    if (this.script.open) return this.script.open(this.calls.open);
    return Readable.from([this.name === 'bank-transactions' ? rows(25) : '{"score":700,"filings":[]}\n']);
  }
}

describe('report process manager', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  let module: TestingModule;
  let store: PostgresEventStore;
  let pool: pg.Pool;
  let providers: Record<ProviderName, ScriptedProvider>;
  let seq = 0;

  const start = async (
    scripts: Partial<Record<ProviderName, Script>>,
    options: Partial<typeof defaultProcessOptions> = {},
  ) => {
    providers = Object.fromEntries(
      PROVIDER_NAMES.map((n) => [n, new ScriptedProvider(n, scripts[n])]),
    ) as typeof providers;
    const registry: ProviderRegistry = {
      list: () => [],
      get: (name) => providers[name],
    };
    module = await Test.createTestingModule({
      imports: [CqrsModule.forRoot()],
      providers: [
        { provide: EVENT_STORE, useValue: store },
        { provide: LOGGER, useValue: createLogger('silent') },
        { provide: SCHEDULED_WORK, useValue: new PostgresScheduledWork(pool) },
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
          useValue: {
            ...defaultProcessOptions,
            firstPollDelayMs: 20,
            backoffBaseMs: 10,
            backoffCapMs: 2000,
            leaseMs: 2000,
            ...options,
          },
        },
        DecideReportHandler,
        ReportWorker,
        ScheduledWorkSubscriber,
      ],
    }).compile();
    await module.init();
  };

  const request = async (taxId = 'T-1') => {
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

  const state = async (reportId: string): Promise<Report> =>
    fold(reportDecider, (await store.readStream(reportStream('acme', reportId))).map(readReportEvent));

  const until = async (reportId: string, done: (r: Report) => boolean, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const report = await state(reportId);
      if (done(report)) return report;
      if (Date.now() > deadline) throw new Error(`report ${reportId} stuck in ${report.status}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const final = (reportId: string, timeoutMs?: number) =>
    until(reportId, (r) => ['ready', 'failed', 'cancelled'].includes(r.status), timeoutMs);

  const workRows = async (reportId: string) =>
    (await pool.query('SELECT step FROM scheduled_work WHERE report_id = $1', [reportId])).rows;
  /** The scheduled-work projection follows the log a moment after the final event. */
  const noWorkLeft = async (reportId: string) => {
    for (let tries = 0; tries < 100 && (await workRows(reportId)).length > 0; tries++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return workRows(reportId);
  };

  beforeAll(async () => {
    db = await createTestDatabase('process');
    dir = await mkdtemp(join(tmpdir(), 'conflux-process-'));
    store = await PostgresEventStore.create(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 5 });
    await new PostgresScheduledWork(pool).migrate();
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

  it('takes a report from request to ready, storing each raw result with its row count and hash', async () => {
    await start({});
    const report = await final(await request());
    expect(report.status).toBe('ready');
    expect(report.providers['bank-transactions'].result).toMatchObject({
      rows: 25,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(report.files.find((f) => f.name === 'transactions.csv')?.rows).toBe(25);
    expect(await noWorkLeft(report.id)).toEqual([]);
  });

  it("waits at least the provider's Retry-After between polls", async () => {
    await start({
      'credit-bureau': {
        poll: async (n) => (n < 4 ? { status: 'processing', retryAfterMs: 300 } : { status: 'done' }),
      },
    });
    const report = await final(await request());
    expect(report.status).toBe('ready');
    const polls = providers['credit-bureau'].calls.poll;
    expect(polls).toHaveLength(4);
    for (let i = 1; i < polls.length; i++) expect(polls[i] - polls[i - 1]).toBeGreaterThanOrEqual(290);
    expect(report.providers['credit-bureau'].attempts).toBe(4);
  });

  it('retries transient errors (503 at submit, a result stream cut halfway) and still gets ready', async () => {
    await start({
      'bank-transactions': {
        submit: async (n) => {
          if (n < 3)
            throw new ProviderUnavailableError('bank-transactions', '503', { retryAfterMs: 50, status: 503 });
          return { jobId: 'bank-job' };
        },
        open: async (n) => {
          if (n > 1) return Readable.from([rows(25)]);
          const cut = new Readable({ read() {} });
          cut.push(rows(10));
          setTimeout(
            () => cut.destroy(new ProviderUnavailableError('bank-transactions', 'connection reset')),
            20,
          );
          return cut;
        },
      },
    });
    const report = await final(await request());
    expect(report.status).toBe('ready');
    expect(providers['bank-transactions'].calls.submit).toBe(3);
    expect(providers['bank-transactions'].calls.open).toBe(2);
    expect(report.providers['bank-transactions'].result?.rows).toBe(25);
  });

  it('fails the report naming the provider that rejected the job (permanent error)', async () => {
    await start({
      'tax-authority': {
        submit: async () =>
          Promise.reject(new ProviderRejectedError('tax-authority', 400, 'HTTP_400', 'bad subject')),
      },
    });
    const report = await final(await request());
    expect(report.status).toBe('failed');
    expect(report.error).toMatchObject({ provider: 'tax-authority', code: 'provider_failed' });
    expect(report.providers['tax-authority'].status).toBe('failed');
    expect(await noWorkLeft(report.id)).toEqual([]);
  });

  it('fails the report naming a provider that is not done before its deadline', async () => {
    await start(
      { 'credit-bureau': { poll: async () => ({ status: 'processing', retryAfterMs: 100 }) } },
      { providerDeadlineMs: 800 },
    );
    const started = Date.now();
    const report = await final(await request());
    expect(report.status).toBe('failed');
    expect(report.error?.provider).toBe('credit-bureau');
    expect(report.error?.message).toMatch(/deadline/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it('fails the report when a provider job ends failed', async () => {
    await start({
      'bank-transactions': {
        poll: async () => ({ status: 'failed', code: 'SUBJECT_UNAVAILABLE', message: 'no accounts' }),
      },
    });
    const report = await final(await request());
    expect(report.status).toBe('failed');
    expect(report.error?.provider).toBe('bank-transactions');
  });

  it('stops all work for a cancelled report: no poll after the cancellation lands', async () => {
    await start({ 'credit-bureau': { poll: async () => ({ status: 'processing', retryAfterMs: 50 }) } });
    const reportId = await request();
    await until(reportId, (r) => r.providers['credit-bureau'].attempts >= 2);
    await module.get(CommandBus).execute(
      new DecideReport(
        {
          type: 'CancelReport',
          data: { reportId, cancelledBy: 'u1', cancelledAt: new Date().toISOString() },
        },
        { tenantId: 'acme' },
      ),
    );
    await new Promise((r) => setTimeout(r, 300)); // the projection removes the rows; an in-flight poll may finish
    const pollsAfterCancel = providers['credit-bureau'].calls.poll.length;
    await new Promise((r) => setTimeout(r, 700));
    expect(providers['credit-bureau'].calls.poll.length).toBe(pollsAfterCancel);
    expect((await state(reportId)).status).toBe('cancelled');
    expect(await noWorkLeft(reportId)).toEqual([]);
  });
});
