import type { ObjectStorage } from '../../../../src/application/ports/object-storage.port.js';
import {
  filesExpired,
  reportResourceSchema,
  toReportResource,
} from '../../../../src/application/report/report-resource.js';
import { initialState, type Report } from '../../../../src/domain/report/report.decider.js';

const ready = (change: Partial<Report>): Report => ({ ...initialState(), status: 'ready', ...change });
const at = Date.parse('2026-03-01T12:00:00.000Z');

describe('filesExpired', () => {
  it('is false before retainedUntil and true from it on, deleted or not yet', () => {
    const report = ready({ retainedUntil: '2026-03-01T12:00:00.000Z' });
    expect(filesExpired(report, at - 1)).toBe(false);
    expect(filesExpired(report, at)).toBe(true);
  });

  it('is true once the files were deleted', () =>
    expect(filesExpired(ready({ filesExpiredAt: '2026-03-01T12:00:00.000Z' }), at - 60_000)).toBe(true));

  it('is false for a state the read model stored before retention existed (neither field)', () => {
    const { retainedUntil: _r, filesExpiredAt: _f, ...old } = ready({});
    expect(filesExpired(old as Report, at)).toBe(false);
  });
});

describe('toReportResource: provider durations', () => {
  const noStorage = {} as ObjectStorage; // a running report has no files to sign
  const running = (providers: Partial<Report['providers']>): Report => ({
    ...initialState(),
    status: 'running',
    id: 'r1',
    period: { from: '2026-01-01', to: '2026-02-28' },
    requestedAt: '2026-03-01T11:59:00.000Z',
    updatedAt: '2026-03-01T12:00:04.321Z',
    providers: { ...initialState().providers, ...providers },
  });

  it('shows durationMs for a finished provider only, as the contract describes', async () => {
    const resource = await toReportResource(
      running({
        'bank-transactions': {
          status: 'done',
          attempts: 2,
          submittedAt: '2026-03-01T12:00:00.000Z',
          finishedAt: '2026-03-01T12:00:04.321Z',
        },
        'credit-bureau': { status: 'processing', attempts: 1, submittedAt: '2026-03-01T12:00:00.000Z' },
      }),
      noStorage,
      60,
    );
    expect(resource.progress.providers).toEqual({
      'bank-transactions': { status: 'done', attempts: 2, durationMs: 4321 },
      'credit-bureau': { status: 'processing', attempts: 1 },
      'tax-authority': { status: 'pending', attempts: 0 },
    });
    expect(reportResourceSchema.safeParse(resource).success).toBe(true);
  });

  it('leaves it out for a state the read model stored before the times were kept', async () => {
    const resource = await toReportResource(
      running({ 'bank-transactions': { status: 'done', attempts: 2, jobId: 'j' } }),
      noStorage,
      60,
    );
    expect(resource.progress.providers['bank-transactions']).toEqual({ status: 'done', attempts: 2 });
  });
});
