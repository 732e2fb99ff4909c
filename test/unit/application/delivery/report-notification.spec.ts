import type { RecordedEvent } from '../../../../src/application/ports/event-store.port.js';
import { toReportNotification } from '../../../../src/application/delivery/report-notification.js';

const SHA = 'ab'.repeat(32);

const recorded = (type: string, data: unknown, metadata: Record<string, unknown> = {}): RecordedEvent => ({
  id: '0190f0e4-0000-7000-8000-000000000001',
  streamName: 'report-acme.r1',
  revision: 9,
  type,
  data,
  metadata: { tenantId: 'acme', ...metadata },
  checkpoint: '1:1' as RecordedEvent['checkpoint'],
  createdAt: new Date('2026-11-30T10:00:00Z'),
});

describe('report notification (the Kafka value and the webhook data)', () => {
  it('given ReportReady, it lists the files without their storage keys and keeps the trace context', () => {
    const n = toReportNotification(
      recorded(
        'ReportReady',
        {
          reportId: 'r1',
          files: [
            {
              name: 'summary.json',
              contentType: 'application/json',
              key: 'tenants/acme/x',
              bytes: 10,
              sha256: SHA,
            },
          ],
          completedAt: '2026-11-30T10:00:01Z',
        },
        { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      ),
    );
    expect(n).toMatchObject({
      id: '0190f0e4-0000-7000-8000-000000000001',
      webhookType: 'report.ready',
      cloudEventType: 'conflux.report.ready.v1',
      tenantId: 'acme',
      reportId: 'r1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      value: {
        reportId: 'r1',
        tenantId: 'acme',
        status: 'ready',
        files: [
          { name: 'summary.json', contentType: 'application/json', rows: null, bytes: 10, sha256: SHA },
        ],
        error: null,
        completedAt: '2026-11-30T10:00:01Z',
      },
    });
    expect(JSON.stringify(n)).not.toContain('tenants/acme/x');
  });

  it('given ReportFailed, it carries the error and when it failed', () => {
    const n = toReportNotification(
      recorded('ReportFailed', {
        reportId: 'r1',
        code: 'provider_failed',
        message: 'bank said no',
        provider: 'bank-transactions',
        failedAt: '2026-11-30T10:00:02Z',
      }),
    );
    expect(n?.value).toEqual({
      reportId: 'r1',
      tenantId: 'acme',
      status: 'failed',
      files: [],
      error: { code: 'provider_failed', message: 'bank said no', provider: 'bank-transactions' },
      completedAt: '2026-11-30T10:00:02Z',
    });
    expect(n?.traceparent).toBeUndefined();
  });

  it('given ReportCancelled, it is a cancelled notification; given any other event, none', () => {
    const cancelled = recorded('ReportCancelled', {
      reportId: 'r1',
      cancelledBy: 'u1',
      cancelledAt: '2026-11-30T10:00:03Z',
    });
    expect(toReportNotification(cancelled)?.value.status).toBe('cancelled');
    expect(toReportNotification(cancelled)?.webhookType).toBe('report.cancelled');
    expect(toReportNotification({ ...cancelled, streamName: 'user-acme.u1' })).toBeNull();
  });
});
