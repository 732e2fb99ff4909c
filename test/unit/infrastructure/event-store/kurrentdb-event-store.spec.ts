import { randomUUID } from 'node:crypto';
import { AccessDeniedError, UnavailableError } from '@kurrent/kurrentdb-client';
import type { NewEvent, RecordedEvent } from '../../../../src/application/ports/event-store.port.js';
import { KurrentDbEventStore } from '../../../../src/infrastructure/event-store/kurrentdb-event-store.js';
import { eventStoreContract } from '../../../support/event-store-contract.js';
import { FakeKurrentDb } from '../../../support/fake-kurrentdb.js';
import { waitUntil } from '../../../support/wait-until.js';

/**
 * The adapter's logic without a server: the contract suite and the resubscription against an in-memory
 * model of the client and server (test/support/fake-kurrentdb.ts). The same suite against a real KurrentDB
 * is test/integration/event-store/kurrentdb-event-store.spec.ts, which needs one.
 */
const server = new FakeKurrentDb();
eventStoreContract(
  'KurrentDbEventStore on the in-memory model of KurrentDB',
  async () => {
    const store = new KurrentDbEventStore(server.client());
    return { store, teardown: () => store.close() };
  },
  { skip: { openTransactions: 'adapter capability: KurrentDB has no client-held transactions' } },
);

describe('KurrentDbEventStore subscriptions, on the in-memory model', () => {
  const event = (tenantId: string, n: number): NewEvent => ({
    id: randomUUID(),
    type: 'Counted',
    data: { n },
    metadata: { tenantId },
  });

  /** Collects a subscription in the background until stopped. */
  const collect = (store: KurrentDbEventStore, tenantId: string) => {
    const controller = new AbortController();
    const events: RecordedEvent[] = [];
    const finished = (async () => {
      for await (const e of store.subscribeToAll({ filter: { tenantId }, signal: controller.signal }))
        events.push(e);
    })();
    return { events, finished, stop: () => controller.abort() };
  };

  it('resubscribes after a dropped subscription from the last event it received: nothing lost, nothing twice', async () => {
    const fake = new FakeKurrentDb();
    const store = new KurrentDbEventStore(fake.client(), { resubscribeDelayMs: 10 });
    const stream = 'report-acme.1';
    for (let n = 0; n < 3; n++) await store.appendToStream(stream, [event('acme', n)]);
    const subscription = collect(store, 'acme');
    await waitUntil('three events delivered', async () => subscription.events.length === 3);
    const third = subscription.events[2];

    fake.drop(new UnavailableError(undefined));
    for (let n = 3; n < 5; n++) await store.appendToStream(stream, [event('acme', n)]);
    await waitUntil('five events delivered', async () => subscription.events.length >= 5);
    subscription.stop();
    await subscription.finished;
    await store.close();

    expect(subscription.events.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    expect(fake.subscribedFrom).toHaveLength(2);
    expect(fake.subscribedFrom[1]).toEqual({ commit: expect.any(BigInt), prepare: expect.any(BigInt) });
    expect(
      `${(fake.subscribedFrom[1] as { commit: bigint }).commit}/${(fake.subscribedFrom[1] as { prepare: bigint }).prepare}`,
    ).toBe(third.checkpoint);
    expect(fake.openSubscriptions).toBe(0);
  });

  it('passes on an error that resubscribing cannot cure', async () => {
    const fake = new FakeKurrentDb();
    const store = new KurrentDbEventStore(fake.client(), { resubscribeDelayMs: 10 });
    await store.appendToStream('report-acme.1', [event('acme', 0)]);
    const subscription = collect(store, 'acme');
    await waitUntil('the event delivered', async () => subscription.events.length === 1);

    fake.drop(new AccessDeniedError(undefined));

    await expect(subscription.finished).rejects.toBeInstanceOf(AccessDeniedError);
    expect(fake.subscribedFrom).toHaveLength(1);
    await store.close();
  });

  it('gives up after too many drops in a row without an event, with the last error', async () => {
    const fake = new FakeKurrentDb();
    const store = new KurrentDbEventStore(fake.client(), { resubscribeDelayMs: 1, maxResubscribes: 2 });
    const subscription = collect(store, 'acme');
    const dropping = setInterval(() => fake.drop(new UnavailableError(undefined as never)), 5);
    try {
      await expect(subscription.finished).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      clearInterval(dropping);
    }
    expect(fake.subscribedFrom).toHaveLength(3);
    await store.close();
  });

  it('close() ends open subscriptions and disposes the client', async () => {
    const fake = new FakeKurrentDb();
    const client = fake.client();
    const store = new KurrentDbEventStore(client);
    const subscription = collect(store, 'acme');
    await waitUntil('subscribed', async () => fake.openSubscriptions === 1);

    await store.close();
    await subscription.finished;

    expect(client.disposed).toBe(true);
    expect(fake.openSubscriptions).toBe(0);
  });
});
