import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { toCloudEventMessage } from '../../../src/application/delivery/cloud-event-message.js';
import { toReportNotification } from '../../../src/application/delivery/report-notification.js';
import type { RecordedEvent } from '../../../src/application/ports/event-store.port.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';

const TOPIC = 'acme.reports';

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

describe('AsyncAPI document of the notifications topic (e2e)', () => {
  let t: TestApp;
  let text: string;

  beforeAll(async () => {
    t = await startTestApp({ KAFKA_TOPIC: TOPIC });
    const response = await t.request('GET', '/docs/asyncapi.yaml');
    expect(response.status).toBe(200);
    expect(response.contentType).toMatch(/^application\/yaml/);
    text = response.text;
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('is served without a token and is valid AsyncAPI 3 for @asyncapi/parser', async () => {
    const { document, diagnostics } = await new Parser().parse(text);
    expect(
      diagnostics.filter((d) => (d.severity as number) === (DiagnosticSeverity.Error as number)),
    ).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
    const channel = document!.channels().all()[0];
    expect(channel.address()).toBe(TOPIC);
    expect(
      channel
        .messages()
        .all()
        .map((m) => m.name())
        .sort(),
    ).toEqual(['conflux.report.cancelled.v1', 'conflux.report.failed.v1', 'conflux.report.ready.v1']);
  });

  it("describes the relay's real messages: their headers and value validate against it", () => {
    const doc = JSON.parse(text);
    const messages = doc.channels.reportNotifications.messages;
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const at = '2026-11-30T10:00:01Z';
    const cases = [
      [
        'reportReady',
        recorded(
          'ReportReady',
          {
            reportId: 'r1',
            files: [
              {
                name: 'a.csv',
                contentType: 'text/csv',
                key: 'k',
                rows: 2,
                bytes: 9,
                sha256: 'ab'.repeat(32),
              },
            ],
            completedAt: at,
          },
          { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        ),
      ],
      [
        'reportFailed',
        recorded('ReportFailed', {
          reportId: 'r1',
          code: 'c',
          message: 'm',
          provider: 'credit-bureau',
          failedAt: at,
        }),
      ],
      ['reportCancelled', recorded('ReportCancelled', { reportId: 'r1', cancelledBy: 'u', cancelledAt: at })],
    ] as const;
    for (const [name, event] of cases) {
      const message = toCloudEventMessage(toReportNotification(event)!);
      const headers = ajv.compile(messages[name].headers);
      const payload = ajv.compile(messages[name].payload);
      expect([name, headers(message.headers), headers.errors]).toEqual([name, true, null]);
      expect([name, payload(JSON.parse(message.value)), payload.errors]).toEqual([name, true, null]);
    }
    // And it can fail: a message of another type does not pass.
    const ready = toCloudEventMessage(toReportNotification(cases[0][1])!);
    expect(ajv.compile(messages.reportFailed.headers)(ready.headers)).toBe(false);
  });
});
