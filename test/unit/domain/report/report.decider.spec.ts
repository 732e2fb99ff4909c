import { fold } from '../../../../src/domain/shared/decider.js';
import type { ProviderName } from '../../../../src/domain/report/provider-data.js';
import type { ReportCommand } from '../../../../src/domain/report/report.commands.js';
import { initialState, reportDecider } from '../../../../src/domain/report/report.decider.js';
import {
  ProvidersNotDone,
  ReportAlreadyExists,
  ReportAlreadyFinal,
  ReportFilesMissing,
  ReportNotFinal,
  ReportNotFound,
  ReportNotGenerating,
} from '../../../../src/domain/report/report.errors.js';
import { upcast, type ReportEvent } from '../../../../src/domain/report/report.events.js';
import { deciderSpec } from '../../../support/decider-spec.js';

const { given } = deciderSpec(reportDecider);
const reportId = 'r1';
const at = (minute: number) => `2025-01-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

const requestData = {
  reportId,
  tenantId: 'acme',
  requestedBy: 'u1',
  subject: { taxId: 'T-1' },
  period: { from: '2024-01-01', to: '2024-12-31' },
  requestedAt: at(0),
};
const requested: ReportEvent = { type: 'ReportRequested', data: requestData };

const jobData = (provider: ProviderName) => ({
  reportId,
  provider,
  jobId: `job-${provider}`,
  submittedAt: at(1),
});
const jobSubmitted = (provider: ProviderName): ReportEvent => ({
  type: 'ProviderJobSubmitted',
  data: jobData(provider),
});
const pollData = (provider: ProviderName, attempt: number) => ({
  reportId,
  provider,
  attempt,
  dueAt: at(10 + attempt),
  scheduledAt: at(2 + attempt),
  reason: 'processing' as const,
});
const pollScheduled = (provider: ProviderName, attempt: number): ReportEvent => ({
  type: 'ProviderPollScheduled',
  data: pollData(provider, attempt),
});
const resultData = (provider: ProviderName) => ({
  reportId,
  provider,
  result: { key: `raw/${provider}.ndjson`, rows: 3, bytes: 300, sha256: 'ab'.repeat(32) },
  recordedAt: at(20),
});
const resultRecorded = (provider: ProviderName): ReportEvent => ({
  type: 'ProviderResultRecorded',
  data: resultData(provider),
});
const allDone: ReportEvent[] = [
  requested,
  jobSubmitted('bank-transactions'),
  jobSubmitted('credit-bureau'),
  jobSubmitted('tax-authority'),
  resultRecorded('bank-transactions'),
  resultRecorded('credit-bureau'),
  resultRecorded('tax-authority'),
];
const generationStarted: ReportEvent = {
  type: 'ReportGenerationStarted',
  data: { reportId, startedAt: at(30) },
};
const file = (name: string) => ({
  name,
  contentType: 'text/plain',
  key: `k/${name}`,
  bytes: 10,
  sha256: 'cd'.repeat(32),
});
const files = [{ ...file('transactions.csv'), rows: 3 }, file('summary.json'), file('summary.pdf')];
const ready: ReportEvent = { type: 'ReportReady', data: { reportId, files, completedAt: at(40) } };
const failed: ReportEvent = {
  type: 'ReportFailed',
  data: { reportId, code: 'generation_failed', message: 'disk full', failedAt: at(40) },
};
const cancelled: ReportEvent = {
  type: 'ReportCancelled',
  data: { reportId, cancelledBy: 'u1', cancelledAt: at(40) },
};

describe('RequestReport', () => {
  const command: ReportCommand = { type: 'RequestReport', data: requestData };

  it('records the request on an empty stream', () =>
    given([])
      .when(command)
      .then([requested], {
        status: 'pending',
        id: reportId,
        tenantId: 'acme',
        requestedBy: 'u1',
        subject: { taxId: 'T-1' },
        period: { from: '2024-01-01', to: '2024-12-31' },
        requestedAt: at(0),
        providers: {
          'bank-transactions': { status: 'pending', attempts: 0 },
          'credit-bureau': { status: 'pending', attempts: 0 },
          'tax-authority': { status: 'pending', attempts: 0 },
        },
        files: [],
        error: null,
      }));

  it('refuses a second request for the same report', () =>
    given([requested]).when(command).thenThrows(ReportAlreadyExists, 'report_already_exists'));
});

describe('commands on a report that was never requested', () => {
  it.each<ReportCommand>([
    { type: 'RecordProviderJob', data: jobData('bank-transactions') },
    { type: 'SchedulePoll', data: pollData('bank-transactions', 1) },
    { type: 'RecordProviderResult', data: resultData('bank-transactions') },
    { type: 'StartGeneration', data: { reportId, startedAt: at(1) } },
    { type: 'CancelReport', data: { reportId, cancelledBy: 'u1', cancelledAt: at(1) } },
  ])('$type throws ReportNotFound', (command) =>
    given([]).when(command).thenThrows(ReportNotFound, 'report_not_found'),
  );
});

describe('RecordProviderJob', () => {
  const command: ReportCommand = { type: 'RecordProviderJob', data: jobData('credit-bureau') };

  it('submits the job and the report starts running with the first one', () =>
    given([requested])
      .when(command)
      .then([jobSubmitted('credit-bureau')], {
        status: 'running',
        updatedAt: at(1),
        providers: {
          'bank-transactions': { status: 'pending', attempts: 0 },
          'credit-bureau': {
            status: 'processing',
            attempts: 0,
            jobId: 'job-credit-bureau',
            submittedAt: at(1),
          },
          'tax-authority': { status: 'pending', attempts: 0 },
        },
      }));

  it('keeps running when a later provider submits its job', () =>
    given([requested, jobSubmitted('bank-transactions')])
      .when(command)
      .then([jobSubmitted('credit-bureau')], { status: 'running' }));

  it('does nothing when that provider already has a job (re-delivery)', () =>
    given([requested, jobSubmitted('credit-bureau')])
      .when({ type: 'RecordProviderJob', data: { ...jobData('credit-bureau'), jobId: 'another' } })
      .then([]));
});

describe('SchedulePoll', () => {
  const running = [requested, jobSubmitted('bank-transactions')];

  it('schedules the next attempt and records it as the provider attempts', () =>
    given([...running, pollScheduled('bank-transactions', 1)])
      .when({ type: 'SchedulePoll', data: pollData('bank-transactions', 2) })
      .then([pollScheduled('bank-transactions', 2)], {
        providers: expect.objectContaining({ 'bank-transactions': expect.objectContaining({ attempts: 2 }) }),
      }));

  it.each([1, 2])(
    'does nothing for attempt %i when attempt 2 is already scheduled (re-delivery)',
    (attempt) =>
      given([...running, pollScheduled('bank-transactions', 1), pollScheduled('bank-transactions', 2)])
        .when({ type: 'SchedulePoll', data: pollData('bank-transactions', attempt) })
        .then([]),
  );

  it('does nothing once the provider is done', () =>
    given([...running, resultRecorded('bank-transactions')])
      .when({ type: 'SchedulePoll', data: pollData('bank-transactions', 5) })
      .then([]));

  it('counts attempts per provider', () =>
    given([...running, jobSubmitted('tax-authority'), pollScheduled('bank-transactions', 3)])
      .when({ type: 'SchedulePoll', data: pollData('tax-authority', 1) })
      .then([pollScheduled('tax-authority', 1)]));
});

describe('RecordProviderResult', () => {
  it('marks the provider done, keeps the claim check of its result and when it finished', () =>
    given([requested, jobSubmitted('tax-authority')])
      .when({ type: 'RecordProviderResult', data: resultData('tax-authority') })
      .then([resultRecorded('tax-authority')], {
        status: 'running',
        providers: expect.objectContaining({
          'tax-authority': {
            status: 'done',
            attempts: 0,
            jobId: 'job-tax-authority',
            result: resultData('tax-authority').result,
            submittedAt: at(1),
            finishedAt: at(20),
          },
        }),
      }));

  it('does nothing when the result is already recorded (re-delivery)', () =>
    given([requested, jobSubmitted('tax-authority'), resultRecorded('tax-authority')])
      .when({ type: 'RecordProviderResult', data: resultData('tax-authority') })
      .then([]));
});

describe('RecordProviderFailure', () => {
  const failure = {
    reportId,
    provider: 'credit-bureau' as const,
    code: 'deadline_exceeded',
    message: 'no answer in 10 min',
    failedAt: at(15),
  };

  it('fails the provider and the report, naming the provider', () =>
    given([requested, jobSubmitted('credit-bureau')])
      .when({ type: 'RecordProviderFailure', data: failure })
      .then(
        [
          { type: 'ProviderFailed', data: failure },
          {
            type: 'ReportFailed',
            data: {
              reportId,
              code: 'provider_failed',
              message: 'no answer in 10 min',
              provider: 'credit-bureau',
              failedAt: at(15),
            },
          },
        ],
        {
          status: 'failed',
          error: { code: 'provider_failed', message: 'no answer in 10 min', provider: 'credit-bureau' },
          completedAt: at(15),
          providers: expect.objectContaining({
            'credit-bureau': expect.objectContaining({
              status: 'failed',
              submittedAt: at(1),
              finishedAt: at(15),
            }),
          }),
        },
      ));

  it('does nothing when the provider already delivered its result (a late failure)', () =>
    given([requested, jobSubmitted('credit-bureau'), resultRecorded('credit-bureau')])
      .when({ type: 'RecordProviderFailure', data: failure })
      .then([]));
});

describe('StartGeneration', () => {
  const command: ReportCommand = { type: 'StartGeneration', data: { reportId, startedAt: at(30) } };

  it('starts generating once all three providers are done', () =>
    given(allDone).when(command).then([generationStarted], { status: 'generating' }));

  it('refuses while a provider has not answered, naming it', () => {
    given(allDone.filter((e) => e !== allDone[5]))
      .when(command)
      .thenThrows(ProvidersNotDone, 'providers_not_done');
    expect(() => reportDecider.decide(command, fold(reportDecider, allDone.slice(0, 5)))).toThrow(
      /credit-bureau, tax-authority/,
    );
  });

  it('does nothing when already generating (re-delivery)', () =>
    given([...allDone, generationStarted])
      .when(command)
      .then([]));
});

describe('CompleteReport', () => {
  const command: ReportCommand = { type: 'CompleteReport', data: { reportId, files, completedAt: at(40) } };

  it('makes the report ready with its files', () =>
    given([...allDone, generationStarted])
      .when(command)
      .then([ready], { status: 'ready', files, completedAt: at(40), updatedAt: at(40) }));

  it('refuses before generation started', () =>
    given(allDone).when(command).thenThrows(ReportNotGenerating, 'report_not_generating'));

  it.each(['transactions.csv', 'summary.json', 'summary.pdf'])('refuses without %s', (name) =>
    given([...allDone, generationStarted])
      .when({ ...command, data: { ...command.data, files: files.filter((f) => f.name !== name) } })
      .thenThrows(ReportFilesMissing, 'report_files_missing'),
  );
});

describe('FailReport', () => {
  it('fails the report with its error', () =>
    given([...allDone, generationStarted])
      .when({ type: 'FailReport', data: failed.data })
      .then([failed], { status: 'failed', error: { code: 'generation_failed', message: 'disk full' } }));

  it('can fail a report still waiting for providers', () =>
    given([requested])
      .when({
        type: 'FailReport',
        data: { reportId, code: 'x', message: 'y', provider: 'tax-authority', failedAt: at(3) },
      })
      .then(
        [
          {
            type: 'ReportFailed',
            data: { reportId, code: 'x', message: 'y', provider: 'tax-authority', failedAt: at(3) },
          },
        ],
        { status: 'failed', error: { code: 'x', message: 'y', provider: 'tax-authority' } },
      ));
});

describe('CancelReport', () => {
  const command: ReportCommand = {
    type: 'CancelReport',
    data: { reportId, cancelledBy: 'u1', cancelledAt: at(40) },
  };

  it.each([
    ['pending', [requested]],
    ['running', [requested, jobSubmitted('bank-transactions')]],
    ['generating', [...allDone, generationStarted]],
  ])('cancels a %s report', (_status, history) =>
    given(history)
      .when(command)
      .then([cancelled], { status: 'cancelled', completedAt: at(40) }),
  );
});

describe('a final report never changes', () => {
  const commands: ReportCommand[] = [
    { type: 'RequestReport', data: requestData },
    { type: 'RecordProviderJob', data: jobData('bank-transactions') },
    { type: 'SchedulePoll', data: pollData('bank-transactions', 9) },
    { type: 'RecordProviderResult', data: resultData('bank-transactions') },
    {
      type: 'RecordProviderFailure',
      data: { reportId, provider: 'tax-authority', code: 'c', message: 'm', failedAt: at(50) },
    },
    { type: 'StartGeneration', data: { reportId, startedAt: at(50) } },
    { type: 'CompleteReport', data: { reportId, files, completedAt: at(50) } },
    { type: 'FailReport', data: { reportId, code: 'c', message: 'm', failedAt: at(50) } },
    { type: 'CancelReport', data: { reportId, cancelledBy: 'u1', cancelledAt: at(50) } },
  ];
  const finals: [string, ReportEvent[]][] = [
    ['ready', [...allDone, generationStarted, ready]],
    ['failed', [requested, failed]],
    ['cancelled', [requested, cancelled]],
  ];

  describe.each(finals)('when %s', (_status, history) => {
    it.each(commands.map((c) => [c.type, c] as const))('%s throws ReportAlreadyFinal', (_type, command) =>
      given(history).when(command).thenThrows(ReportAlreadyFinal, 'report_final'),
    );
  });
});

describe('ExpireFiles (retention)', () => {
  const expire: ReportCommand = { type: 'ExpireFiles', data: { reportId, expiredAt: at(59) } };
  const expired: ReportEvent = { type: 'ReportFilesExpired', data: { reportId, expiredAt: at(59) } };
  const retainedReady: ReportEvent = {
    type: 'ReportReady',
    data: { reportId, files, completedAt: at(40), retainedUntil: at(58) },
  };

  it('records when a ready report keeps its files until', () =>
    given([...allDone, generationStarted])
      .when({ type: 'CompleteReport', data: { reportId, files, completedAt: at(40), retainedUntil: at(58) } })
      .then([retainedReady], { status: 'ready', retainedUntil: at(58), filesExpiredAt: null }));

  it('expires a ready report: its status stays, its files are gone', () =>
    given([...allDone, generationStarted, retainedReady])
      .when(expire)
      .then([expired], {
        status: 'ready',
        files: [],
        retainedUntil: at(58),
        filesExpiredAt: at(59),
        completedAt: at(40),
      }));

  it.each([
    ['failed', [requested, failed]],
    ['cancelled', [requested, cancelled]],
  ])('expires a %s report (its partial objects)', (status, history) =>
    given(history)
      .when(expire)
      .then([expired], { status: status as 'failed' | 'cancelled', filesExpiredAt: at(59) }),
  );

  it('is recorded once: a re-delivery changes nothing', () =>
    given([requested, cancelled, expired]).when(expire).then([]));

  it.each([
    ['pending', [requested]],
    ['generating', [...allDone, generationStarted]],
  ])('refuses a %s report, whose objects are still being written', (_status, history) =>
    given(history).when(expire).thenThrows(ReportNotFinal, 'report_not_final'),
  );

  it('refuses a report never requested', () =>
    given([]).when(expire).thenThrows(ReportNotFound, 'report_not_found'));

  it('leaves a final report final: nothing else may follow the expiry', () =>
    given([requested, cancelled, expired])
      .when({ type: 'CancelReport', data: { reportId, cancelledBy: 'u1', cancelledAt: at(59) } })
      .thenThrows(ReportAlreadyFinal, 'report_final'));
});

describe('status through evolve', () => {
  it('walks pending → running → generating → ready', () => {
    const statuses = [
      requested,
      jobSubmitted('bank-transactions'),
      ...allDone.slice(2),
      generationStarted,
      ready,
    ].map((_event, i, events) => fold(reportDecider, events.slice(0, i + 1)).status);
    expect(statuses).toEqual([
      'pending',
      'running',
      'running',
      'running',
      'running',
      'running',
      'running',
      'generating',
      'ready',
    ]);
  });

  it('starts from an initial, empty report', () => expect(initialState().status).toBe('initial'));
});

describe('upcast', () => {
  it('passes version-1 events through unchanged', () => expect(upcast(requested)).toEqual(requested));
});
