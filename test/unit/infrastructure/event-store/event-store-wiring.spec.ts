import { createEventStore } from '../../../../src/infrastructure/event-store/event-store.module.js';
import { KurrentDbEventStore } from '../../../../src/infrastructure/event-store/kurrentdb-event-store.js';

describe('createEventStore (EVENT_STORE)', () => {
  it('eventstoredb: the KurrentDB adapter on EVENTSTORE_URL, without touching DATABASE_URL', async () => {
    const store = await createEventStore({
      eventStore: 'eventstoredb',
      eventStoreUrl: 'kurrentdb://127.0.0.1:1?tls=false',
      databaseUrl: undefined,
    });
    try {
      expect(store).toBeInstanceOf(KurrentDbEventStore);
    } finally {
      await store.close();
    }
  });

  it('refuses a store without its address', async () => {
    await expect(
      createEventStore({ eventStore: 'eventstoredb', eventStoreUrl: undefined, databaseUrl: 'postgres://x' }),
    ).rejects.toThrow('EVENTSTORE_URL is required');
    await expect(
      createEventStore({
        eventStore: 'postgres',
        eventStoreUrl: 'kurrentdb://x:2113',
        databaseUrl: undefined,
      }),
    ).rejects.toThrow('DATABASE_URL is required');
  });
});
