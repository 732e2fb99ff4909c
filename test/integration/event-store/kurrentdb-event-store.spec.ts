import { KurrentDbContainer } from '@testcontainers/kurrentdb';
import { KurrentDbEventStore } from '../../../src/infrastructure/event-store/kurrentdb-event-store.js';
import { eventStoreContract } from '../../support/event-store-contract.js';

/**
 * The event store contract against KurrentDB, wherever a server is reachable: EVENTSTORE_URL when set (a
 * server you run, e.g. `docker compose --profile kurrentdb up -d`), else a container started through
 * @testcontainers/kurrentdb (needs a Docker engine; image KURRENTDB_IMAGE). Without either the suite is
 * skipped, loudly: the reason is printed and is the name of the skipped suite (README, ADR 0021).
 */
const IMAGE = process.env.KURRENTDB_IMAGE ?? 'docker.kurrent.io/kurrent-latest/kurrentdb:latest';

type Server = { url: string; stop: () => Promise<void> } | { skipped: string };

const findServer = async (): Promise<Server> => {
  const url = process.env.EVENTSTORE_URL;
  if (url) return { url, stop: async () => undefined };
  try {
    const container = await new KurrentDbContainer(IMAGE).start();
    return { url: container.getConnectionString(), stop: async () => void (await container.stop()) };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { skipped: `no EVENTSTORE_URL and no Docker engine to start ${IMAGE} (${reason})` };
  }
};

const server = await findServer();

if ('skipped' in server) {
  console.warn(`KurrentDB contract suite SKIPPED: ${server.skipped}`);
  describe.skip(`KurrentDbEventStore: event store contract SKIPPED: ${server.skipped}`, () => {
    it('runs against a reachable KurrentDB (set EVENTSTORE_URL, or run a Docker engine)', () => undefined);
  });
} else {
  afterAll(() => server.stop());
  eventStoreContract(
    'KurrentDbEventStore',
    async () => {
      const store = KurrentDbEventStore.connect(server.url);
      return { store, teardown: () => store.close() };
    },
    {
      skip: {
        openTransactions:
          'adapter capability: KurrentDB appends are atomic server-side writes, never a client transaction left open that a later append can overtake; $all is in commit order by construction',
      },
    },
  );
}
