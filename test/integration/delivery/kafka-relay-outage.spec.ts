import { collectTopic, describeWithKafka, ownKafka } from '../../support/kafka.js';
import { finalEvent, relayHarness, type RelayHarness } from '../../support/relay-harness.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * The broker goes away while reports become final: nothing is lost, and everything goes out once it is
 * back. A broker of this file alone, since it is stopped and started again.
 */
describeWithKafka('Kafka relay through a broker outage (real broker)', () => {
  let broker: Awaited<ReturnType<typeof ownKafka>>;
  let h: RelayHarness;

  beforeAll(async () => {
    broker = await ownKafka();
    h = await relayHarness();
  }, 200_000);

  afterAll(async () => {
    await h?.close();
    await broker?.close();
  });

  it('keeps publishing from its checkpoint after the broker returns: every event once at least, none lost', async () => {
    const relay = await h.startRelay(broker.brokers);
    try {
      const before: string[] = [];
      for (let i = 0; i < 3; i++)
        before.push(...(await h.append(`a${i}`, [finalEvent('ReportReady', `a${i}`, h.tenantId)])));
      const first = await collectTopic(broker.brokers, h.topic);
      await waitUntil('the first events are on the topic', () => first.messages.length >= 3);
      await first.stop();

      await broker.stop();
      const during: string[] = [];
      for (let i = 0; i < 10; i++)
        during.push(...(await h.append(`b${i}`, [finalEvent('ReportCancelled', `b${i}`, h.tenantId)])));
      // The relay tried and failed while the broker was down: it did not just wait for it.
      await waitUntil(
        'the relay reports the broker down',
        () => relay.logs.some((line) => line.includes('subscription failing')),
        120_000,
      );

      await broker.start();
      const after = await collectTopic(broker.brokers, h.topic);
      try {
        const all = [...before, ...during];
        await waitUntil(
          'every event is on the topic',
          () => all.every((id) => after.messages.some((m) => m.headers.ce_id === id)),
          180_000,
          100,
        );
        expect(new Set(after.messages.map((m) => m.headers.ce_id))).toEqual(new Set(all));
        await waitUntil('the relay recovered', () =>
          relay.logs.some((line) => line.includes('subscription recovered')),
        );
        // Parking is on after 2 failures (the harness): the outage never counted as the events' failure.
        expect(relay.logs.filter((line) => line.includes('event parked'))).toEqual([]);
      } finally {
        await after.stop();
      }
    } finally {
      await relay.stop();
    }
  });
});
