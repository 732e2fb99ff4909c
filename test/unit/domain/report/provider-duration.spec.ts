import { fold } from '../../../../src/domain/shared/decider.js';
import { providerDurationMs } from '../../../../src/domain/report/provider-duration.js';
import { reportDecider } from '../../../../src/domain/report/report.decider.js';
import type { ReportEvent } from '../../../../src/domain/report/report.events.js';

const reportId = 'r1';
const provider = 'bank-transactions';
const requested: ReportEvent = {
  type: 'ReportRequested',
  data: {
    reportId,
    tenantId: 'acme',
    requestedBy: 'u1',
    subject: { taxId: 'T-1' },
    period: { from: '2025-01-01', to: '2025-12-31' },
    requestedAt: '2026-01-01T10:00:00.000Z',
  },
};
const submitted = (submittedAt: string): ReportEvent => ({
  type: 'ProviderJobSubmitted',
  data: { reportId, provider, jobId: 'job-1', submittedAt },
});
const recorded = (recordedAt: string): ReportEvent => ({
  type: 'ProviderResultRecorded',
  data: {
    reportId,
    provider,
    result: { key: 'raw', rows: 1, bytes: 2, sha256: 'ab'.repeat(32) },
    recordedAt,
  },
});
const failed = (failedAt: string): ReportEvent => ({
  type: 'ProviderFailed',
  data: { reportId, provider, code: 'provider_rejected', message: 'no', failedAt },
});

/** Given a report's history, when its provider's duration is asked: what the fold makes of it. */
const durationAfter = (events: readonly ReportEvent[]) =>
  providerDurationMs(fold(reportDecider, [requested, ...events]).providers[provider]);

describe('providerDurationMs', () => {
  it('given a job submitted and its result recorded, then it is the time between the two events', () =>
    expect(durationAfter([submitted('2026-01-01T10:00:01.250Z'), recorded('2026-01-01T10:02:03.500Z')])).toBe(
      122_250,
    ));

  it('given a job submitted and then failed, then it runs to the failure', () =>
    expect(durationAfter([submitted('2026-01-01T10:00:01.000Z'), failed('2026-01-01T10:10:01.000Z')])).toBe(
      600_000,
    ));

  it('given a job still being polled, then there is none yet', () =>
    expect(durationAfter([submitted('2026-01-01T10:00:01.000Z')])).toBeUndefined());

  it('given a provider that failed before any job existed (submit refused), then there is none', () =>
    expect(durationAfter([failed('2026-01-01T10:00:05.000Z')])).toBeUndefined());

  it('given a state stored before the times were kept (a read model not rebuilt), then there is none', () => {
    const done = fold(reportDecider, [
      requested,
      submitted('2026-01-01T10:00:01.000Z'),
      recorded('2026-01-01T10:00:02.000Z'),
    ]).providers[provider];
    const { submittedAt: _s, finishedAt: _f, ...old } = done;
    expect(old.status).toBe('done');
    expect(providerDurationMs(old)).toBeUndefined();
  });

  it('given a result stamped a little before the submit (two workers, two clock estimates), then it is 0', () =>
    expect(durationAfter([submitted('2026-01-01T10:00:01.010Z'), recorded('2026-01-01T10:00:01.004Z')])).toBe(
      0,
    ));
});
