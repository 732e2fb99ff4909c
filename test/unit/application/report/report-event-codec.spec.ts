import type { Checkpoint, RecordedEvent } from '../../../../src/application/ports/event-store.port.js';
import { readReportEvent } from '../../../../src/application/report/report-event-codec.js';
import { ReportEventUnreadable } from '../../../../src/domain/report/report.errors.js';

const recorded = (
  type: string,
  data: unknown,
  metadata: Record<string, unknown> = { tenantId: 'acme' },
): RecordedEvent => ({
  id: '00000000-0000-4000-8000-000000000001',
  streamName: 'report-acme.r1',
  revision: 3,
  type,
  data,
  metadata: metadata as RecordedEvent['metadata'],
  checkpoint: '1:1' as Checkpoint,
  createdAt: new Date(),
});

const requested = {
  reportId: 'r1',
  tenantId: 'acme',
  requestedBy: 'u1',
  subject: { taxId: 'T-1' },
  period: { from: '2026-01-01', to: '2026-03-31' },
  requestedAt: '2026-04-01T10:00:00.000Z',
};

const unreadable = (
  type: string,
  data: unknown,
  metadata?: Record<string, unknown>,
): ReportEventUnreadable => {
  try {
    readReportEvent(recorded(type, data, metadata));
  } catch (error) {
    if (error instanceof ReportEventUnreadable) return error;
    throw error;
  }
  throw new Error('expected ReportEventUnreadable');
};

describe('readReportEvent', () => {
  it('given a well-formed version-1 event, when read, then it is the domain event', () => {
    expect(readReportEvent(recorded('ReportRequested', requested))).toEqual({
      type: 'ReportRequested',
      data: requested,
    });
  });

  it('given an unknown type (a newer version wrote it), when read, then it names the stream, revision and type', () => {
    const error = unreadable('ReportRequestedV9', requested);
    expect(error).toMatchObject({
      code: 'report_event_unreadable',
      streamName: 'report-acme.r1',
      revision: 3,
    });
    expect(error.message).toMatch(/ReportRequestedV9 .*unknown event type/);
  });

  it.each([
    ['a missing field', { ...requested, subject: undefined }, /subject/],
    ['a time that is not ISO-8601', { ...requested, requestedAt: 'yesterday' }, /requestedAt/],
    [
      'a date that is not a date',
      { ...requested, period: { from: '2026-13-01', to: '2026-03-31' } },
      /period\.from/,
    ],
    ['data that is not an object', 'oops', /\(data\)/],
    ['data that is an array', [requested], /\(data\)/],
    ['data that is null', null, /\(data\)/],
  ])('given %s, when read, then it is unreadable naming the field', (_, data, field) => {
    expect(unreadable('ReportRequested', data).message).toMatch(field);
  });

  it('given an unknown provider or a negative row count, when read, then it is unreadable', () => {
    expect(
      unreadable('ProviderJobSubmitted', {
        reportId: 'r1',
        provider: 'astrology',
        jobId: 'j',
        submittedAt: requested.requestedAt,
      }).message,
    ).toMatch(/provider/);
    expect(
      unreadable('ProviderResultRecorded', {
        reportId: 'r1',
        provider: 'credit-bureau',
        result: { key: 'k', rows: -1, bytes: 1, sha256: 'a'.repeat(64) },
        recordedAt: requested.requestedAt,
      }).message,
    ).toMatch(/result\.rows/);
  });

  it.each([
    ['no tenant', {}, /metadata\.tenantId/],
    ['a tenant that is not a string', { tenantId: 7 }, /metadata\.tenantId/],
    ['another tenant than its stream', { tenantId: 'globex' }, /metadata\.tenantId/],
  ])(
    'given metadata with %s, when read, then it is unreadable (it would be projected or scheduled for the wrong tenant)',
    (_, metadata, field) => {
      expect(unreadable('ReportRequested', requested, metadata).message).toMatch(field);
    },
  );

  it('given data naming another report than its stream, when read, then it is unreadable', () => {
    expect(unreadable('ReportRequested', { ...requested, reportId: 'r2' }).message).toMatch(/reportId/);
    expect(unreadable('ReportRequested', { ...requested, tenantId: 'globex' }).message).toMatch(/tenantId/);
  });
});
