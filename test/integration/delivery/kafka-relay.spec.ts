import { describeWithKafka, collectTopic, sharedKafka } from '../../support/kafka.js';
import { finalEvent, relayHarness, SHA, type RelayHarness } from '../../support/relay-harness.js';
import { waitUntil } from '../../support/wait-until.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/**
 * The relay against the test run's real broker: what a downstream consumer receives, counted at the
 * broker with a kafkajs consumer of its own.
 */
describeWithKafka('Kafka relay (real broker)', () => {
  let brokers: string;
  let h: RelayHarness;
  let relay: Awaited<ReturnType<RelayHarness['startRelay']>> | undefined;

  beforeAll(async () => {
    brokers = await sharedKafka();
  }, 200_000);

  beforeEach(async () => {
    h = await relayHarness();
  });

  afterEach(async () => {
    await relay?.stop();
    relay = undefined;
    await h.close();
  });

  it('publishes one CloudEvents message per final event: key, value and every header exactly as api.md says', async () => {
    const [readyId] = await h.append('r1', [
      finalEvent('ReportReady', 'r1', h.tenantId, { traceparent: TRACEPARENT }),
    ]);
    const [failedId] = await h.append('r2', [finalEvent('ReportFailed', 'r2', h.tenantId)]);
    relay = await h.startRelay(brokers);
    const topic = await collectTopic(brokers, h.topic);
    try {
      await waitUntil('both messages are on the topic', () => topic.messages.length >= 2);
      const byId = new Map(topic.messages.map((m) => [m.headers.ce_id, m]));
      const ready = byId.get(readyId)!;
      const readyEvent = (await h.store.readStream(`report-${h.tenantId}.r1`))[0];
      expect(ready.key).toBe('r1');
      expect(ready.headers).toEqual({
        ce_specversion: '1.0',
        ce_id: readyId,
        ce_source: `/conflux/tenants/${h.tenantId}`,
        ce_type: 'conflux.report.ready.v1',
        ce_subject: 'r1',
        ce_time: readyEvent.createdAt.toISOString(),
        'content-type': 'application/json',
        traceparent: TRACEPARENT,
      });
      expect(ready.value).toEqual({
        reportId: 'r1',
        tenantId: h.tenantId,
        status: 'ready',
        files: [{ name: 'transactions.csv', contentType: 'text/csv', rows: 3, bytes: 120, sha256: SHA }],
        error: null,
        completedAt: (readyEvent.data as { completedAt: string }).completedAt,
      });
      expect(JSON.stringify(ready.value)).not.toContain('tenants/'); // no storage key, no URL

      const failed = byId.get(failedId)!;
      expect(failed.key).toBe('r2');
      expect(failed.headers.ce_type).toBe('conflux.report.failed.v1');
      // No trace context on the event: no traceparent header at all (never an empty one).
      expect(Object.keys(failed.headers).sort()).toEqual(
        ['ce_id', 'ce_source', 'ce_specversion', 'ce_subject', 'ce_time', 'ce_type', 'content-type'].sort(),
      );
      expect(failed.value).toMatchObject({
        status: 'failed',
        files: [],
        error: { code: 'provider-failed', message: 'credit-bureau failed', provider: 'credit-bureau' },
      });
      expect(topic.messages).toHaveLength(2);
    } finally {
      await topic.stop();
    }
  });

  it("keeps each report's messages in log order, across partitions and pages", async () => {
    relay = await h.startRelay(brokers);
    const reports = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const expected = new Map<string, string[]>(reports.map((r) => [r, []]));
    // Three rounds, each report's events appended in separate transactions, interleaved with the others'.
    for (const type of ['ReportReady', 'ReportFailed', 'ReportCancelled'] as const)
      for (const reportId of reports)
        expected.get(reportId)!.push(...(await h.append(reportId, [finalEvent(type, reportId, h.tenantId)])));
    const topic = await collectTopic(brokers, h.topic);
    try {
      await waitUntil('every message is on the topic', () => topic.messages.length >= 36);
      for (const reportId of reports)
        expect(topic.messages.filter((m) => m.key === reportId).map((m) => m.headers.ce_id)).toEqual(
          expected.get(reportId),
        );
      expect(new Set(topic.messages.map((m) => m.partition)).size).toBeGreaterThan(1);
      expect(topic.messages).toHaveLength(36);
    } finally {
      await topic.stop();
    }
  });
});
