import { scheduledWorkChanges } from '../../../../src/application/report/process/scheduled-work.projection.js';
import type { ReportEvent } from '../../../../src/domain/report/report.events.js';

const metadata = { tenantId: 'acme', traceparent: '00-abc-def-01' };
const requested: ReportEvent = {
  type: 'ReportRequested',
  data: {
    reportId: 'r1',
    tenantId: 'acme',
    requestedBy: 'u1',
    subject: { taxId: 'T1' },
    period: { from: '2026-01-01', to: '2026-06-30' },
    requestedAt: '2026-11-22T10:00:00.000Z',
  },
};

describe('scheduled work projection', () => {
  it('schedules a submit for each of the three providers, due at once, with a deadline on the database clock', () => {
    const changes = scheduledWorkChanges(requested, metadata, 60_000);
    expect(changes).toHaveLength(3);
    for (const change of changes) {
      if (change.op !== 'upsert') throw new Error('expected upserts');
      expect(change.item).toMatchObject({
        tenantId: 'acme',
        reportId: 'r1',
        kind: 'submit',
        attempt: 0,
        traceparent: '00-abc-def-01',
      });
      // A delay, not an instant: requestedAt is on the clock of the instance that took the request.
      expect(change.item.deadlineInMs).toBe(60_000);
    }
    expect(changes.map((c) => (c.op === 'upsert' ? c.item.step : ''))).toEqual([
      'bank-transactions',
      'credit-bureau',
      'tax-authority',
    ]);
  });

  it('moves a provider row to the scheduled poll attempt', () => {
    const event: ReportEvent = {
      type: 'ProviderPollScheduled',
      data: {
        reportId: 'r1',
        provider: 'credit-bureau',
        attempt: 3,
        dueAt: '2026-11-22T10:00:05.000Z',
        scheduledAt: '2026-11-22T10:00:04.000Z',
        reason: 'processing',
      },
    };
    expect(scheduledWorkChanges(event, metadata, 60_000)).toEqual([
      {
        op: 'schedule',
        tenantId: 'acme',
        reportId: 'r1',
        step: 'credit-bureau',
        attempt: 3,
        dueAt: new Date('2026-11-22T10:00:05.000Z'),
      },
    ]);
  });

  it('removes a provider row when its result is recorded and asks for generation (with the traceparent) once none is left', () => {
    const event: ReportEvent = {
      type: 'ProviderResultRecorded',
      data: {
        reportId: 'r1',
        provider: 'tax-authority',
        result: { key: 'k', rows: 1, bytes: 2, sha256: 'x' },
        recordedAt: '2026-11-22T10:00:06.000Z',
      },
    };
    expect(scheduledWorkChanges(event, metadata, 60_000)).toEqual([
      { op: 'delete', tenantId: 'acme', reportId: 'r1', step: 'tax-authority' },
      {
        op: 'generate-when-providers-done',
        tenantId: 'acme',
        reportId: 'r1',
        traceparent: '00-abc-def-01',
      },
    ]);
  });

  it.each(['ProviderFailed', 'ReportFilesExpired'] as const)('stops all work of the report on %s', (type) => {
    const event = { type, data: { reportId: 'r1' } } as unknown as ReportEvent;
    expect(scheduledWorkChanges(event, metadata, 60_000)).toEqual([
      { op: 'delete', tenantId: 'acme', reportId: 'r1' },
    ]);
  });

  describe('a final state stops all work and schedules retention', () => {
    const DAY = 24 * 60 * 60_000;
    const at = '2026-11-22T10:00:00.000Z';
    const stopped = (dueAt: string) => [
      { op: 'delete', tenantId: 'acme', reportId: 'r1' },
      { op: 'expire-at', tenantId: 'acme', reportId: 'r1', dueAt: new Date(dueAt) },
    ];

    it('ready: at the retainedUntil the event carries', () => {
      const event: ReportEvent = {
        type: 'ReportReady',
        data: { reportId: 'r1', files: [], completedAt: at, retainedUntil: '2026-12-22T10:00:00.000Z' },
      };
      expect(scheduledWorkChanges(event, metadata, 60_000, DAY)).toEqual(stopped('2026-12-22T10:00:00.000Z'));
    });

    it('ready before retention existed: completedAt plus the retention', () => {
      const event: ReportEvent = {
        type: 'ReportReady',
        data: { reportId: 'r1', files: [], completedAt: at },
      };
      expect(scheduledWorkChanges(event, metadata, 60_000, DAY)).toEqual(stopped('2026-11-23T10:00:00.000Z'));
    });

    it.each([
      ['ReportFailed', { reportId: 'r1', code: 'c', message: 'm', failedAt: at }],
      ['ReportCancelled', { reportId: 'r1', cancelledBy: 'u1', cancelledAt: at }],
    ] as const)(
      '%s: its partial objects 10 minutes (or the retention if shorter) after the database applies it, whatever the instant in the event',
      (type, data) => {
        const event = { type, data } as ReportEvent;
        const stoppedIn = (inMs: number) => [
          { op: 'delete', tenantId: 'acme', reportId: 'r1' },
          { op: 'expire-at', tenantId: 'acme', reportId: 'r1', inMs },
        ];
        expect(scheduledWorkChanges(event, metadata, 60_000, DAY)).toEqual(stoppedIn(10 * 60_000));
        expect(scheduledWorkChanges(event, metadata, 60_000, 17_000)).toEqual(stoppedIn(17_000));
      },
    );
  });
});
