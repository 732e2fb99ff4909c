import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
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
import { SUMMARY_DOCUMENT_RENDERER } from '../../../src/application/ports/summary-document.port.js';
import {
  PROVIDER_REGISTRY,
  ProviderRejectedError,
  ProviderUnavailableError,
  type PollResult,
  type ProviderAdapter,
  type ProviderCallOptions,
  type ProviderRequest,
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
import { PdfSummaryRenderer } from '../../../src/infrastructure/report-documents/pdf-summary-renderer.js';
import { PostgresScheduledWork } from '../../../src/infrastructure/scheduling/postgres-scheduled-work.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';
import { createTestDatabase } from '../../support/database.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * The process manager (scheduled-work subscriber + leased worker) on the real event store and table,
 * with scripted provider adapters (a fake at the port) to reach every branch: Retry-After, transient and
 * permanent errors, deadlines, a result stream cut halfway, cancellation.
 */
type Script = {
  /** `created`: the job this call created (or found by its idempotency key), already counted. */
  submit?: (call: number, created: { jobId: string }, signal?: AbortSignal) => Promise<{ jobId: string }>;
  poll?: (call: number, signal?: AbortSignal) => Promise<PollResult>;
  open?: (call: number, signal?: AbortSignal) => Promise<Readable>;
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

/**
 * A provider at the port that counts what a real provider would see: calls, and the jobs it created — a
 * submit with a known idempotency key finds its job, one without a key always creates a new one.
 */
class ScriptedProvider implements ProviderAdapter {
  readonly calls = { submit: 0, poll: [] as number[], open: 0 };
  /** Jobs created per report (by subject tax id), as the provider counts them. */
  readonly jobs = new Map<string, number>();
  private readonly byKey = new Map<string, string>();
  readonly signals: AbortSignal[] = [];
  constructor(
    readonly name: ProviderName,
    private readonly script: Script = {},
  ) {}

  jobsFor(taxId: string): number {
    return this.jobs.get(taxId) ?? 0;
  }

  async submit(request: ProviderRequest, options?: ProviderCallOptions) {
    this.calls.submit++;
    if (options?.signal) this.signals.push(options.signal);
    let jobId = request.idempotencyKey ? this.byKey.get(request.idempotencyKey) : undefined;
    if (!jobId) {
      jobId = `${this.name}-job-${request.subject.taxId}-${this.calls.submit}`;
      if (request.idempotencyKey) this.byKey.set(request.idempotencyKey, jobId);
      this.jobs.set(request.subject.taxId, this.jobsFor(request.subject.taxId) + 1);
    }
    return this.script.submit ? this.script.submit(this.calls.submit, { jobId }, options?.signal) : { jobId };
  }

  async poll(_jobId: string, options?: ProviderCallOptions): Promise<PollResult> {
    this.calls.poll.push(Date.now());
    if (options?.signal) this.signals.push(options.signal);
    return this.script.poll ? this.script.poll(this.calls.poll.length, options?.signal) : { status: 'done' };
  }

  async openResult(_jobId: string, options?: ProviderCallOptions): Promise<Readable> {
    this.calls.open++;
    if (this.script.open) return this.script.open(this.calls.open, options?.signal);
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
    adapters: { work?: PostgresScheduledWork; storage?: LocalObjectStorage } = {},
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
        { provide: LOGGER, useValue: createLogger((process.env.TEST_LOG_LEVEL as 'silent') ?? 'silent') },
        { provide: SCHEDULED_WORK, useValue: adapters.work ?? new PostgresScheduledWork(pool, store) },
        { provide: PROVIDER_REGISTRY, useValue: registry },
        {
          provide: OBJECT_STORAGE,
          useValue: adapters.storage ?? newStorage(),
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
        { provide: SUMMARY_DOCUMENT_RENDERER, useClass: PdfSummaryRenderer },
        DecideReportHandler,
        ReportWorker,
        ScheduledWorkSubscriber,
      ],
    }).compile();
    await module.init();
  };

  const newStorage = () =>
    new LocalObjectStorage({
      rootDir: dir,
      secret: Buffer.alloc(32, 1),
      publicBaseUrl: 'http://localhost',
      durable: false,
    });

  const request = async (taxId = 'T-1', tenantId = 'acme') => {
    const reportId = `r${++seq}-${Date.now()}`;
    await module.get(CommandBus).execute(
      new DecideReport(
        {
          type: 'RequestReport',
          data: {
            reportId,
            tenantId,
            requestedBy: 'u1',
            subject: { taxId },
            period: { from: '2026-01-01', to: '2026-03-31' },
            requestedAt: new Date().toISOString(),
          },
        },
        { tenantId },
      ),
    );
    return reportId;
  };

  const state = async (reportId: string, tenantId = 'acme'): Promise<Report> =>
    fold(reportDecider, (await store.readStream(reportStream(tenantId, reportId))).map(readReportEvent));

  const until = async (
    reportId: string,
    done: (r: Report) => boolean,
    timeoutMs = 15_000,
    tenantId = 'acme',
  ) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const report = await state(reportId, tenantId);
      if (done(report)) return report;
      if (Date.now() > deadline) throw new Error(`report ${reportId} stuck in ${report.status}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const final = (reportId: string, timeoutMs?: number, tenantId?: string) =>
    until(reportId, (r) => ['ready', 'failed', 'cancelled'].includes(r.status), timeoutMs, tenantId);

  const workRows = async (reportId: string) =>
    (await pool.query('SELECT step FROM scheduled_work WHERE report_id = $1', [reportId])).rows;
  /**
   * The rows of a final report once the scheduled-work projection has followed the log (a moment after
   * the final event): only its retention step should be left, due when its objects are to be deleted.
   */
  /**
   * The work rows once the final event's retention row is there and nothing else is (the projection may
   * apply the final event a page after the one that deleted the provider rows).
   */
  const workLeftWhenFinal = async (reportId: string) => {
    const onlyRetention = (rows: { step: string }[]) =>
      rows.length > 0 && rows.every((r) => r.step === 'retention');
    await waitUntil('only the retention row is left', async () => onlyRetention(await workRows(reportId)));
    return workRows(reportId);
  };

  beforeAll(async () => {
    db = await createTestDatabase('process');
    dir = await mkdtemp(join(tmpdir(), 'conflux-process-'));
    store = await PostgresEventStore.create(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 5 });
    // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
    pool.on('error', () => undefined);
    await new PostgresScheduledWork(pool, store).migrate();
  });
  afterEach(async () => {
    await module?.close();
    // Each test counts calls at its own providers: no work of an earlier test's reports carries over.
    await pool.query('TRUNCATE scheduled_work');
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
    expect(await workLeftWhenFinal(report.id)).toEqual([{ step: 'retention' }]);
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
    expect(await workLeftWhenFinal(report.id)).toEqual([{ step: 'retention' }]);
  });

  it('fails the report naming a provider that is not done before its deadline', async () => {
    await start(
      { 'credit-bureau': { poll: async () => ({ status: 'processing', retryAfterMs: 100 }) } },
      // Long enough for the other two providers to finish on a loaded machine: the deadline now also
      // aborts calls in flight.
      { providerDeadlineMs: 2000 },
    );
    const started = Date.now();
    const report = await final(await request());
    expect(report.status).toBe('failed');
    expect(report.error?.provider).toBe('credit-bureau');
    expect(report.error?.message).toMatch(/deadline/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
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
    expect(await workLeftWhenFinal(reportId)).toEqual([{ step: 'retention' }]);
  });

  describe('exactly once at the provider (issue 7), counted at the provider', () => {
    const expectOneJobEach = (taxId: string) => {
      for (const name of PROVIDER_NAMES) expect(providers[name].jobsFor(taxId)).toBe(1);
    };

    it('a lagging scheduled-work projection never repeats a submit or a download (stale row)', async () => {
      /** The projection applies everything but new reports 2 s late: longer than the lease. */
      class HeldBack extends PostgresScheduledWork {
        override async apply(...args: Parameters<PostgresScheduledWork['apply']>) {
          if (!args[2].some((c) => c.op === 'upsert')) await new Promise((r) => setTimeout(r, 2000));
          return super.apply(...args);
        }
      }
      await start({}, { leaseMs: 400 }, { work: new HeldBack(pool, store) });
      const report = await final(await request('STALE-1'), 30_000);
      expect(report.status).toBe('ready');
      for (const name of PROVIDER_NAMES) {
        expect(providers[name].calls.submit).toBe(1);
        expect(providers[name].calls.open).toBe(1);
      }
      expectOneJobEach('STALE-1');
    }, 40_000);

    it('provider calls longer than the lease (submit, poll, download) are made once each, with the projection held back', async () => {
      /** Every call takes 3 leases; the projection applies all but new reports 1.5 s late. */
      class HeldBack extends PostgresScheduledWork {
        override async apply(...args: Parameters<PostgresScheduledWork['apply']>) {
          if (!args[2].some((c) => c.op === 'upsert')) await new Promise((r) => setTimeout(r, 1500));
          return super.apply(...args);
        }
      }
      const slow = <T>(value: T) => new Promise<T>((r) => setTimeout(() => r(value), 900));
      const script: Script = {
        submit: (_n, created) => slow(created),
        poll: (n) => slow(n < 2 ? { status: 'processing', retryAfterMs: 10 } : { status: 'done' }),
        open: () => slow(Readable.from(['{"score":700,"band":"good"}\n'])),
      };
      await start(
        { 'credit-bureau': script, 'tax-authority': script },
        { leaseMs: 300 },
        { work: new HeldBack(pool, store) },
      );
      const report = await final(await request('LONGCALL-1'), 30_000);
      expect(report.status).toBe('ready');
      for (const name of ['credit-bureau', 'tax-authority'] as const) {
        expect(providers[name].calls.submit).toBe(1);
        expect(providers[name].calls.poll).toHaveLength(2);
        expect(providers[name].calls.open).toBe(1);
      }
      expectOneJobEach('LONGCALL-1');
    }, 40_000);

    it('a submit that times out after the provider accepted it does not create a second job', async () => {
      const timeout = (n: number, created: { jobId: string }) =>
        n < 4
          ? Promise.reject(new ProviderUnavailableError('credit-bureau', 'did not answer within 10000 ms'))
          : Promise.resolve(created);
      await start({
        'credit-bureau': { submit: timeout },
        'bank-transactions': { submit: timeout },
      });
      const report = await final(await request('TIMEOUT-1'));
      expect(report.status).toBe('ready');
      expect(providers['credit-bureau'].calls.submit).toBe(4);
      expectOneJobEach('TIMEOUT-1');
    });

    it('a result that drips one byte at a time fails at the provider deadline, its stream closed, the slot freed', async () => {
      const streams: Readable[] = [];
      await start(
        {
          'bank-transactions': {
            open: async () => {
              const drip = new Readable({ read() {} });
              drip.push(rows(1));
              const timer = setInterval(() => drip.push('{'), 1000);
              drip.once('close', () => clearInterval(timer));
              streams.push(drip);
              return drip;
            },
          },
        },
        { providerDeadlineMs: 1500, concurrency: 3 },
      );
      const started = Date.now();
      const report = await final(await request('DRIP-1'), 10_000);
      expect(report.status).toBe('failed');
      expect(report.error).toMatchObject({ provider: 'bank-transactions' });
      expect(report.error?.message).toMatch(/deadline/);
      expect(Date.now() - started).toBeLessThan(6000);
      expect(streams.length).toBeGreaterThan(0);
      expect(streams.every((stream) => stream.destroyed)).toBe(true);
      // The slots are free: an unrelated report still gets done.
      expect((await final(await request('AFTER-DRIP'), 10_000)).status).toBe('failed'); // the bank drips again
      expect(providers['credit-bureau'].jobsFor('AFTER-DRIP')).toBe(1);
    }, 30_000);

    it('cancelling a report aborts its provider call in flight', async () => {
      let inFlight: AbortSignal | undefined;
      await start({
        'credit-bureau': {
          // Never answers: only an abort ends the call.
          poll: (_n, signal) =>
            new Promise((_resolve, reject) => {
              inFlight = signal;
              signal?.addEventListener('abort', () => reject(new Error('aborted')));
            }),
        },
      });
      const reportId = await request('CANCEL-1');
      await until(reportId, (r) => r.providers['credit-bureau'].attempts >= 1);
      const waitFor = async (check: () => boolean, what: string) => {
        const deadline = Date.now() + 10_000;
        while (!check()) {
          if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await waitFor(() => inFlight !== undefined, 'the poll is in flight');
      await module.get(CommandBus).execute(
        new DecideReport(
          {
            type: 'CancelReport',
            data: { reportId, cancelledBy: 'u1', cancelledAt: new Date().toISOString() },
          },
          { tenantId: 'acme' },
        ),
      );
      await waitFor(() => inFlight!.aborted, 'the provider call is aborted');
      expect(providers['credit-bureau'].calls.poll).toHaveLength(1);
    });

    it('a step whose worker never finishes (crash loop) ends after a bounded number of claims', async () => {
      /** Renewals are lost (the worker is as good as dead each time); each claim hangs at the provider. */
      class NoRenewals extends PostgresScheduledWork {
        override async renewLease(): Promise<never[]> {
          return [];
        }
      }
      await start(
        { 'tax-authority': { poll: () => new Promise(() => undefined) } },
        { leaseMs: 200, maxStepClaims: 4, providerDeadlineMs: 120_000, concurrency: 16 },
        { work: new NoRenewals(pool, store) },
      );
      const report = await final(await request('LOOP-1'), 15_000);
      expect(report.status).toBe('failed');
      expect(report.error).toMatchObject({ provider: 'tax-authority' });
      // At most maxStepClaims claims of the poll step, plus one: on a loaded machine the scheduled-work
      // projection may apply the submit's first ProviderPollScheduled after a poll claim, and that row move
      // starts the count over once. Bounded, whatever the machine's speed.
      expect(providers['tax-authority'].calls.poll.length).toBeLessThanOrEqual(4 + 1);
    }, 30_000);

    for (const provider of PROVIDER_NAMES) {
      it(`an unterminated ${provider} result line is refused at the cap: the provider fails, nothing grows without bound`, async () => {
        await start({
          [provider]: {
            open: async () =>
              Readable.from(
                (function* () {
                  yield '[';
                  // 3 MiB on one line, in 64 KiB chunks.
                  for (let i = 0; i < 48; i++) yield `${'{"id":"x"},'.repeat(5957)}`;
                })(),
              ),
          },
        });
        const report = await final(await request(`LONGLINE-${provider}`));
        expect(report.status).toBe('failed');
        expect(report.error).toMatchObject({ provider });
        expect(providers[provider].calls.open).toBe(1);
      });
    }

    it('a worker whose lease is taken over between its check and its append appends nothing', async () => {
      // The takeover lands right after the provider answered, as the worker's append starts: inside the
      // DecideReport it dispatches (before the decider reads the stream), that is after any check done
      // before the command and before the append. The thief holds the row for an hour.
      await start({});
      const handler = module.get(DecideReportHandler);
      const execute = handler.execute.bind(handler);
      let stale: Promise<unknown> | undefined;
      jest.spyOn(handler, 'execute').mockImplementation(async (cmd: DecideReport) => {
        const commands = Array.isArray(cmd.command) ? cmd.command : [cmd.command];
        const bankStep = commands.some(
          (c: { type: string; data: { provider?: string } }) =>
            c.type === 'SchedulePoll' && c.data.provider === 'bank-transactions',
        );
        if (bankStep && !stale) {
          await pool.query(
            `UPDATE scheduled_work SET lease_token = lease_token + 1, lease_owner = 'thief',
                    lease_until = now() + interval '1 hour'
             WHERE report_id = $1 AND step = 'bank-transactions'`,
            [commands[0].data.reportId],
          );
          stale = execute(cmd);
          return stale as ReturnType<typeof execute>;
        }
        return execute(cmd);
      });
      const reportId = await request('TAKEOVER-1');
      const deadline = Date.now() + 15_000;
      while (!stale && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(stale).toBeDefined();
      await stale?.catch(() => undefined);
      // The other providers finish their steps meanwhile; the bank step of the stale claim wrote nothing.
      await until(reportId, (r) => r.providers['credit-bureau'].status !== 'pending');
      const events = await store.readStream(reportStream('acme', reportId));
      const bankEvents = events.filter(
        (e) => (e.data as { provider?: string }).provider === 'bank-transactions',
      );
      expect(bankEvents).toEqual([]);
      expect(providers['bank-transactions'].calls.submit).toBe(1);
      // Nor did it move the row: the thief's claim is as the thief left it.
      const { rows } = await pool.query(
        `SELECT lease_owner, kind, attempt FROM scheduled_work WHERE report_id = $1 AND step = 'bank-transactions'`,
        [reportId],
      );
      expect(rows).toEqual([{ lease_owner: 'thief', kind: 'submit', attempt: 0 }]);
    }, 30_000);

    it('a generation that lost its lease publishes nothing: the listed sha256 is the file served', async () => {
      /** The first generation's lease is never renewed, and its CSV upload is slow: another claim takes over. */
      let slowed = false;
      class SlowFirstCsv extends LocalObjectStorage {
        override async put(...args: Parameters<LocalObjectStorage['put']>) {
          if (args[0].endsWith('transactions.csv') && !slowed) {
            slowed = true;
            await new Promise((r) => setTimeout(r, 1500));
          }
          return super.put(...args);
        }
      }
      const firstGeneration: { token?: unknown } = {};
      class LoseFirstGeneration extends PostgresScheduledWork {
        override async renewLease(...args: Parameters<PostgresScheduledWork['renewLease']>) {
          const [items, leaseMs] = args;
          const keep = items.filter((i) => {
            if (i.step !== 'generation') return true;
            const token = (i as { leaseToken?: unknown }).leaseToken ?? i;
            firstGeneration.token ??= token;
            return token !== firstGeneration.token;
          });
          return super.renewLease(keep, leaseMs);
        }
      }
      const storage = new SlowFirstCsv({
        rootDir: dir,
        secret: Buffer.alloc(32, 1),
        publicBaseUrl: 'http://localhost',
        durable: false,
      });
      await start({}, { leaseMs: 300 }, { work: new LoseFirstGeneration(pool, store), storage });
      const report = await final(await request('FENCE-1'), 20_000);
      expect(report.status).toBe('ready');
      await new Promise((r) => setTimeout(r, 2000)); // the stale generation has finished by now
      const started = (await store.readStream(reportStream('acme', report.id))).filter(
        (e) => e.type === 'ReportGenerationStarted',
      );
      expect(started).toHaveLength(1);
      for (const file of report.files) {
        const hash = createHash('sha256');
        for await (const chunk of await storage.get(file.key)) hash.update(chunk as Buffer);
        expect(hash.digest('hex')).toBe(file.sha256);
      }
      const summary = report.files.find((f) => f.name === 'summary.json')!;
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.get(summary.key)) chunks.push(chunk as Buffer);
      expect(JSON.parse(Buffer.concat(chunks).toString()).generatedAt).toBe(
        (started[0].data as { startedAt: string }).startedAt,
      );
    }, 40_000);

    it("is fair to every tenant: tenant B's due work is claimed in the next round, whatever A's burst", async () => {
      /**
       * Watches every claim round: before it, does tenant B have a row that is due and free, while it holds
       * fewer leased rows (worker slots) than tenant A? Then B's row must be among what the round claimed:
       * the slot goes to the tenant holding fewer. One claimer runs here, so those counts hold until the
       * claim — except a row whose lease lapsed while its step still runs, which that step's row lock hides
       * (SKIP LOCKED): one such round is tolerated. Claiming oldest-first instead leaves B behind hundreds of
       * A's rows (seen: 442 of 442 rounds before the fix).
       */
      const rounds = { withBWaiting: 0, unfair: 0, aClaimedWhileBWaited: 0 };
      class FairnessProbe extends PostgresScheduledWork {
        override async claimDue(...args: Parameters<PostgresScheduledWork['claimDue']>) {
          const { rows } = await pool.query<{ waiting: number; bLeased: number; aLeased: number }>(
            `SELECT count(*) FILTER (WHERE tenant_id = 'tenantb' AND due_at <= now()
                                       AND (lease_until IS NULL OR lease_until < now()))::int AS waiting,
                    count(*) FILTER (WHERE tenant_id = 'tenantb' AND lease_until >= now())::int AS "bLeased",
                    count(*) FILTER (WHERE tenant_id = 'tenanta' AND lease_until >= now())::int AS "aLeased"
               FROM scheduled_work`,
          );
          const claimed = await super.claimDue(...args);
          const { waiting, bLeased, aLeased } = rows[0];
          if (waiting > 0 && claimed.items.length > 0) {
            rounds.withBWaiting++;
            const bClaimed = claimed.items.some((i) => i.tenantId === 'tenantb');
            if (!bClaimed && bLeased < aLeased) rounds.unfair++;
            rounds.aClaimedWhileBWaited += claimed.items.filter((i) => i.tenantId === 'tenanta').length;
          }
          return claimed;
        }
      }
      const slow = async (_n: number, created: { jobId: string }) => {
        await new Promise((r) => setTimeout(r, 40));
        return created;
      };
      await start(
        {
          'bank-transactions': { submit: slow },
          'credit-bureau': { submit: slow },
          'tax-authority': { submit: slow },
        },
        { concurrency: 4 },
        { work: new FairnessProbe(pool, store) },
      );
      const burst = [];
      for (let i = 0; i < 150; i++) burst.push(await request(`BURST-${i}`, 'tenanta'));
      const single = await request('SINGLE-1', 'tenantb');
      expect((await final(single, 60_000, 'tenantb')).status).toBe('ready');
      // B's submit, poll, fetch and generation steps each waited in at least one round beside A's burst.
      expect(rounds.withBWaiting).toBeGreaterThanOrEqual(3);
      expect(rounds.unfair).toBeLessThanOrEqual(1);
      // A got at most its share of the 4 slots while B waited: A's 450 submits did not go first.
      expect(rounds.aClaimedWhileBWaited).toBeLessThanOrEqual(4 * rounds.withBWaiting);
      expect(rounds.aClaimedWhileBWaited).toBeLessThan(450 / 2);
      expectOneJobEach('SINGLE-1');
      // How long B's report took end to end also depends on the scheduled-work projection, which the burst
      // keeps busy: that lag is issue 13's.
    }, 90_000);
  });

  describe('one clock: the database decides what is due, whatever the app clock says', () => {
    const RealDate = Date;
    afterEach(() => {
      globalThis.Date = RealDate;
    });
    /** This process's clock (Date, Date.now) runs `skewMs` off the database's. */
    const skewAppClock = (skewMs: number) => {
      class SkewedDate extends RealDate {
        constructor(...args: unknown[]) {
          if (args.length === 0) super(RealDate.now() + skewMs);
          else super(...(args as [string]));
        }
        static override now() {
          return RealDate.now() + skewMs;
        }
      }
      globalThis.Date = SkewedDate as DateConstructor;
    };

    for (const skewMs of [-8 * 3_600_000, 8 * 3_600_000]) {
      it(`a cancelled report's partial objects are kept their grace on the database clock, app clock ${skewMs / 3_600_000} h off`, async () => {
        await start({ 'credit-bureau': { poll: async () => ({ status: 'processing', retryAfterMs: 50 }) } });
        skewAppClock(skewMs);
        const reportId = await request(`CANCEL-SKEW${skewMs}`);
        await until(reportId, (r) => r.providers['credit-bureau'].attempts >= 1);
        // cancelledAt on the app clock, as the API's cancel handler writes it.
        await module.get(CommandBus).execute(
          new DecideReport(
            {
              type: 'CancelReport',
              data: { reportId, cancelledBy: 'u1', cancelledAt: new Date().toISOString() },
            },
            { tenantId: 'acme' },
          ),
        );
        await workLeftWhenFinal(reportId);
        const { rows } = await pool.query<{ in_s: number }>(
          `SELECT extract(epoch FROM due_at - now())::float8 AS in_s FROM scheduled_work
           WHERE report_id = $1 AND step = 'retention'`,
          [reportId],
        );
        // The 10-minute grace (a worker still writing may finish) from now, not from a clock 8 h off.
        expect(rows[0].in_s).toBeGreaterThan(9 * 60);
        expect(rows[0].in_s).toBeLessThanOrEqual(10 * 60);
      }, 20_000);
    }

    for (const skewMs of [-30_000, 30_000, -8 * 3_600_000, 8 * 3_600_000]) {
      it(`a 1.5-second report polls a handful of times with the app clock ${skewMs / 1000} s off`, async () => {
        let doneAt = 0;
        await start({
          'credit-bureau': {
            submit: async (_n, created) => {
              doneAt = Date.now() + 1500;
              return created;
            },
            poll: async () =>
              Date.now() >= doneAt ? { status: 'done' } : { status: 'processing', retryAfterMs: 500 },
          },
        });
        skewAppClock(skewMs);
        const report = await final(await request(`SKEW${skewMs}`), 10_000);
        expect(report.status).toBe('ready');
        expect(providers['credit-bureau'].calls.poll.length).toBeGreaterThanOrEqual(2);
        expect(providers['credit-bureau'].calls.poll.length).toBeLessThanOrEqual(6);
      }, 20_000);
    }
  });
});
