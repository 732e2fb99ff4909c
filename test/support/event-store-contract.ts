import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  WrongExpectedVersionError,
  type Checkpoint,
  type EventStore,
  type ExpectedRevision,
  type LogFilter,
  type NewEvent,
  type RecordedEvent,
} from '../../src/application/ports/event-store.port.js';

/**
 * What an adapter's test file gives the contract. `setup()` is called before every test; each call must
 * return a new store instance over the same data, as a restarted process would see it.
 */
export type EventStoreHarness = Readonly<{
  store: EventStore;
  /** Closes the store and anything the harness opened. */
  teardown: () => Promise<void>;
  /**
   * Appends inside a transaction that stays open until `commit()`. Only adapters whose appends are
   * transactions that other writers can overtake provide it (PostgreSQL); an adapter without it must say
   * why in `ContractOptions.skip.openTransactions`, or the tests that need it fail.
   */
  beginOpenAppend?: (
    streamName: string,
    events: readonly NewEvent[],
  ) => Promise<{ commit: () => Promise<void> }>;
  /**
   * Starts a long transaction that cannot append events (`where`: in another database of the same server,
   * or in the store's database on tables of its own), holding a transaction id until `end()`: what a
   * migration, `CREATE DATABASE` or an unrelated unit of work does. Needed like `beginOpenAppend`.
   */
  beginForeignTransaction?: (
    where: 'other-database' | 'same-database',
  ) => Promise<{ end: () => Promise<void> }>;
}>;

/** Tests an adapter cannot run, each with the reason, printed and shown in the test name. */
export type ContractOptions = Readonly<{
  skip?: Readonly<{ openTransactions?: string }>;
}>;

/** The hook, or an error saying that the harness must provide it or declare why it cannot. */
const required = <T>(hook: T | undefined, name: string, adapter: string): T => {
  if (hook === undefined)
    throw new Error(
      `${adapter}: the harness has no ${name}; provide it, or declare skip.openTransactions with a reason`,
    );
  return hook;
};

// Generous: other sessions on a shared cluster can hold the log's visible horizon back for a while.
const DEADLINE_MS = 20_000;
const SLOW_TEST_MS = 60_000;

const uid = (): string => randomBytes(6).toString('hex');
/** Names unique per run, so the suite also runs against a server that keeps data between runs. */
const names = () => {
  const run = uid();
  return { tenant: `t${run}`, category: `ct${run}` };
};

const newEvent = (type: string, tenantId: string, data: unknown = {}, id?: string): NewEvent => ({
  ...(id === undefined ? {} : { id }),
  type,
  data,
  metadata: { tenantId },
});

const ids = (events: readonly { id: string }[]): string[] => events.map((e) => e.id);

const rejection = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (error: unknown) => error,
  );

const expectWrongVersion = async (
  promise: Promise<unknown>,
  expected: { streamName: string; expected: ExpectedRevision; actual: number | 'no_stream' },
): Promise<void> => {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(WrongExpectedVersionError);
  expect(error).toMatchObject(expected);
};

/** Reads the filtered log from `after` in pages until `count` events arrived; fails at the deadline. */
const readUntil = async (
  store: EventStore,
  filter: LogFilter,
  count: number,
  after?: Checkpoint,
  maxCount = 1000,
): Promise<RecordedEvent[]> => {
  const events: RecordedEvent[] = [];
  const deadline = Date.now() + DEADLINE_MS;
  let checkpoint = after;
  while (events.length < count) {
    const page = await store.readAll({ after: checkpoint, filter, maxCount });
    events.push(...page);
    checkpoint = page.at(-1)?.checkpoint ?? checkpoint;
    if (page.length === 0) {
      if (Date.now() > deadline) throw new Error(`readAll delivered ${events.length} of ${count} events`);
      await sleep(20);
    }
  }
  return events;
};

/** Subscribes until `done(events)` holds, then aborts and waits for the iterator to end by itself. */
const subscribeUntil = async (
  store: EventStore,
  options: { after?: Checkpoint; filter?: LogFilter; batchSize?: number },
  done: (events: readonly RecordedEvent[]) => boolean,
): Promise<RecordedEvent[]> => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), DEADLINE_MS);
  const events: RecordedEvent[] = [];
  try {
    for await (const event of store.subscribeToAll({ ...options, signal: controller.signal })) {
      events.push(event);
      if (done(events)) controller.abort();
    }
  } finally {
    clearTimeout(timer);
  }
  if (!done(events)) throw new Error(`subscription timed out after ${events.length} events`);
  return events;
};

/** A subscription collecting in the background, for tests that write while it runs. */
const backgroundSubscription = (
  store: EventStore,
  options: { after?: Checkpoint; filter?: LogFilter; batchSize?: number },
) => {
  const controller = new AbortController();
  const events: RecordedEvent[] = [];
  const finished = (async () => {
    for await (const event of store.subscribeToAll({ ...options, signal: controller.signal }))
      events.push(event);
  })();
  return {
    events,
    /** Waits until `done` holds (or the deadline), then stops the subscription and waits for it to end. */
    stopWhen: async (done: (events: readonly RecordedEvent[]) => boolean): Promise<RecordedEvent[]> => {
      const deadline = Date.now() + DEADLINE_MS;
      while (!done(events) && Date.now() < deadline) await sleep(10);
      controller.abort();
      await finished;
      return events;
    },
  };
};

const expectPerStreamOrder = (
  events: readonly RecordedEvent[],
  streams: readonly string[],
  perStream: number,
) => {
  for (const streamName of streams) {
    expect(events.filter((e) => e.streamName === streamName).map((e) => e.revision)).toEqual(
      Array.from({ length: perStream }, (_, i) => i),
    );
  }
};

export const eventStoreContract = (
  name: string,
  setup: () => Promise<EventStoreHarness>,
  options: ContractOptions = {},
): void =>
  describe(`${name}: event store contract`, () => {
    const skipOpen = options.skip?.openTransactions;
    // Loud: the reason is printed when the suite is declared and is part of the skipped tests' names.
    if (skipOpen) console.warn(`${name}: open-transaction tests skipped: ${skipOpen}`);
    const itOpen = skipOpen
      ? (title: string, fn: () => Promise<void>, timeout?: number) =>
          it.skip(`${title} [skipped: ${skipOpen}]`, fn, timeout)
      : it;
    let harness: EventStoreHarness;
    let store: EventStore;

    beforeEach(async () => {
      harness = await setup();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.teardown();
    });

    describe('appendToStream and readStream', () => {
      it('round-trips ids, types, data, metadata and revisions', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        const first: NewEvent = {
          id: randomUUID(),
          type: 'AmountRecorded',
          data: {
            amount: 12.5,
            tags: ['x', 'y'],
            nested: { ok: true, none: null },
            text: 'quote " \\ ünï 💶',
          },
          metadata: { tenantId: tenant, correlationId: 'c-1', userId: 'u-1', custom: { n: 1 } },
        };
        const second = newEvent('NoteAdded', tenant, 'a plain string');
        const before = Date.now();

        const result = await store.appendToStream(streamName, [first, second], {
          expectedRevision: 'no_stream',
        });
        const read = await store.readStream(streamName);

        expect(result.nextExpectedRevision).toBe(1);
        expect(typeof result.checkpoint).toBe('string');
        expect(read).toHaveLength(2);
        expect(read[0]).toMatchObject({ ...first, streamName, revision: 0 });
        expect(read[1]).toMatchObject({ type: 'NoteAdded', data: 'a plain string', streamName, revision: 1 });
        expect(read[1].metadata).toEqual({ tenantId: tenant });
        expect(read[1].id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(read[1].id).not.toBe(first.id);
        expect(read[0].checkpoint).not.toBe(read[1].checkpoint);
        for (const event of read) {
          expect(event.createdAt).toBeInstanceOf(Date);
          expect(Math.abs(event.createdAt.getTime() - before)).toBeLessThan(5 * 60_000);
        }
      });

      it('gives each append a checkpoint after its events: a read after it returns none of them', async () => {
        const { tenant, category } = names();
        const filter = { tenantId: tenant };
        const first = await store.appendToStream(`${category}-${tenant}.a`, [newEvent('One', tenant)]);
        const second = await store.appendToStream(`${category}-${tenant}.b`, [
          newEvent('Two', tenant),
          newEvent('Three', tenant),
        ]);

        const all = await readUntil(store, filter, 3);

        expect(all.map((e) => e.type)).toEqual(['One', 'Two', 'Three']);
        expect((await store.readAll({ after: first.checkpoint, filter })).map((e) => e.type)).toEqual([
          'Two',
          'Three',
        ]);
        expect(await store.readAll({ after: second.checkpoint, filter })).toEqual([]);
      });

      it('continues revisions from nextExpectedRevision', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        const first = await store.appendToStream(streamName, [
          newEvent('A', tenant),
          newEvent('B', tenant),
          newEvent('C', tenant),
        ]);
        const second = await store.appendToStream(streamName, [newEvent('D', tenant)], {
          expectedRevision: first.nextExpectedRevision,
        });

        expect(first.nextExpectedRevision).toBe(2);
        expect(second.nextExpectedRevision).toBe(3);
        expect((await store.readStream(streamName)).map((e) => [e.revision, e.type])).toEqual([
          [0, 'A'],
          [1, 'B'],
          [2, 'C'],
          [3, 'D'],
        ]);
      });

      it('reads a stream forwards, backwards, from a revision and up to a count', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        // Twelve, so that revisions ordered as text (10 < 2) would show.
        const appended = await store.appendToStream(
          streamName,
          Array.from({ length: 12 }, (_, i) => newEvent(`E${i}`, tenant, { i })),
          { expectedRevision: 'no_stream' },
        );
        await store.appendToStream(`${category}-${tenant}.ab`, [newEvent('Other', tenant)]);
        const revisions = async (options: Parameters<EventStore['readStream']>[1]) =>
          (await store.readStream(streamName, options)).map((e) => e.revision);
        const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

        expect(appended.nextExpectedRevision).toBe(11);
        expect(await revisions(undefined)).toEqual(range(0, 11));
        expect(await revisions({ fromRevision: 4 })).toEqual(range(4, 11));
        expect(await revisions({ fromRevision: 8, maxCount: 3 })).toEqual([8, 9, 10]);
        expect(await revisions({ maxCount: 2 })).toEqual([0, 1]);
        expect(await revisions({ fromRevision: 12 })).toEqual([]);
        expect(await revisions({ direction: 'backwards' })).toEqual(range(0, 11).reverse());
        expect(await revisions({ direction: 'backwards', fromRevision: 5 })).toEqual([5, 4, 3, 2, 1, 0]);
        expect(await revisions({ direction: 'backwards', fromRevision: 10, maxCount: 2 })).toEqual([10, 9]);
        expect(await revisions({ direction: 'backwards', maxCount: 3 })).toEqual([11, 10, 9]);
        expect((await store.readStream(streamName, { fromRevision: 3, maxCount: 1 }))[0]).toMatchObject({
          type: 'E3',
          data: { i: 3 },
        });
      });

      it('rejects an append of no events and creates no stream', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        await expect(
          store.appendToStream(streamName, [], { expectedRevision: 'no_stream' }),
        ).rejects.toThrow();
        await store.appendToStream(streamName, [newEvent('A', tenant)], { expectedRevision: 'no_stream' });
      });

      it('reads an empty array from a stream that does not exist', async () => {
        const { tenant, category } = names();
        expect(await store.readStream(`${category}-${tenant}.missing`)).toEqual([]);
        expect(await store.readStream(`${category}-${tenant}.missing`, { direction: 'backwards' })).toEqual(
          [],
        );
      });
    });

    describe('expected revision', () => {
      it('no_stream: creates a stream, and fails once it exists without writing', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        const created = await store.appendToStream(streamName, [newEvent('A', tenant)], {
          expectedRevision: 'no_stream',
        });

        await expectWrongVersion(
          store.appendToStream(streamName, [newEvent('B', tenant)], { expectedRevision: 'no_stream' }),
          { streamName, expected: 'no_stream', actual: 0 },
        );
        expect(created.nextExpectedRevision).toBe(0);
        expect((await store.readStream(streamName)).map((e) => e.type)).toEqual(['A']);
      });

      it('an exact revision: succeeds when current, fails when stale, ahead or on a missing stream', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        await store.appendToStream(streamName, [newEvent('A', tenant), newEvent('B', tenant)]);

        const ok = await store.appendToStream(streamName, [newEvent('C', tenant)], { expectedRevision: 1 });
        await expectWrongVersion(
          store.appendToStream(streamName, [newEvent('X', tenant)], { expectedRevision: 1 }),
          {
            streamName,
            expected: 1,
            actual: 2,
          },
        );
        await expectWrongVersion(
          store.appendToStream(streamName, [newEvent('X', tenant)], { expectedRevision: 7 }),
          {
            streamName,
            expected: 7,
            actual: 2,
          },
        );
        const missing = `${category}-${tenant}.missing`;
        await expectWrongVersion(
          store.appendToStream(missing, [newEvent('X', tenant)], { expectedRevision: 0 }),
          {
            streamName: missing,
            expected: 0,
            actual: 'no_stream',
          },
        );

        expect(ok.nextExpectedRevision).toBe(2);
        expect((await store.readStream(streamName)).map((e) => e.type)).toEqual(['A', 'B', 'C']);
        expect(await store.readStream(missing)).toEqual([]);
      });

      it('stream_exists: appends to an existing stream, fails on a missing one and does not create it', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        const missing = `${category}-${tenant}.missing`;
        await store.appendToStream(streamName, [newEvent('A', tenant)]);

        const ok = await store.appendToStream(streamName, [newEvent('B', tenant)], {
          expectedRevision: 'stream_exists',
        });
        await expectWrongVersion(
          store.appendToStream(missing, [newEvent('X', tenant)], { expectedRevision: 'stream_exists' }),
          { streamName: missing, expected: 'stream_exists', actual: 'no_stream' },
        );

        expect(ok.nextExpectedRevision).toBe(1);
        expect(await store.readStream(missing)).toEqual([]);
        // Had the failed append created the stream, this would fail.
        await store.appendToStream(missing, [newEvent('Y', tenant)], { expectedRevision: 'no_stream' });
      });

      it('any (also the default): appends to new and existing streams', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        const first = await store.appendToStream(streamName, [newEvent('A', tenant)], {
          expectedRevision: 'any',
        });
        const second = await store.appendToStream(streamName, [newEvent('B', tenant), newEvent('C', tenant)]);
        const third = await store.appendToStream(streamName, [newEvent('D', tenant)], {
          expectedRevision: 'any',
        });

        expect([first, second, third].map((r) => r.nextExpectedRevision)).toEqual([0, 2, 3]);
        expect((await store.readStream(streamName)).map((e) => `${e.revision}${e.type}`)).toEqual([
          '0A',
          '1B',
          '2C',
          '3D',
        ]);
      });

      it('writes none of the events of a failed append, not even to the global log', async () => {
        const { tenant, category } = names();
        const streamName = `${category}-${tenant}.a`;
        await store.appendToStream(streamName, [newEvent('A', tenant)]);
        await expectWrongVersion(
          store.appendToStream(streamName, [newEvent('X', tenant), newEvent('Y', tenant)], {
            expectedRevision: 5,
          }),
          { streamName, expected: 5, actual: 0 },
        );
        await store.appendToStream(streamName, [newEvent('B', tenant)], { expectedRevision: 0 });

        expect((await readUntil(store, { tenantId: tenant }, 2)).map((e) => e.type)).toEqual(['A', 'B']);
        expect((await store.readStream(streamName)).map((e) => e.type)).toEqual(['A', 'B']);
      });
    });

    describe('readAll', () => {
      it('filters by category, tenant and event type, and combines the filters', async () => {
        const a = names();
        const b = names();
        const [catA, catB, t1, t2] = [a.category, b.category, a.tenant, b.tenant];
        const appended: Record<string, string> = {};
        const append = async (streamName: string, tenant: string, types: string[]) => {
          await store.appendToStream(
            streamName,
            types.map((type) => {
              const id = randomUUID();
              appended[`${streamName}/${type}`] = id;
              return newEvent(type, tenant, {}, id);
            }),
          );
        };
        // No `-`, so no category, though the name equals one. First: once the later appends are read,
        // it is in the log too (a stream without a tenant in its name is not one a tenant filter finds).
        await append(catA, names().tenant, ['Alpha']);
        await append(`${catA}-${t1}.s1`, t1, ['Alpha', 'Beta']);
        await append(`${catB}-${t1}.s2`, t1, ['Alpha']);
        await append(`${catA}-${t2}.s3`, t2, ['Beta']);
        await append(`${catB}-${t2}.s4-with-dashes`, t2, ['Alpha', 'Beta']);
        const both = { categories: [catA, catB] };
        await readUntil(store, both, 6);
        const read = async (filter: LogFilter) =>
          (await store.readAll({ filter })).map((e) => `${e.streamName}/${e.type}`);

        expect(await read({ categories: [catA] })).toEqual([
          `${catA}-${t1}.s1/Alpha`,
          `${catA}-${t1}.s1/Beta`,
          `${catA}-${t2}.s3/Beta`,
        ]);
        expect(await read({ categories: [catB] })).toEqual([
          `${catB}-${t1}.s2/Alpha`,
          `${catB}-${t2}.s4-with-dashes/Alpha`,
          `${catB}-${t2}.s4-with-dashes/Beta`,
        ]);
        expect(await read({ tenantId: t1 })).toEqual([
          `${catA}-${t1}.s1/Alpha`,
          `${catA}-${t1}.s1/Beta`,
          `${catB}-${t1}.s2/Alpha`,
        ]);
        expect(await read({ ...both, eventTypes: ['Beta'] })).toEqual([
          `${catA}-${t1}.s1/Beta`,
          `${catA}-${t2}.s3/Beta`,
          `${catB}-${t2}.s4-with-dashes/Beta`,
        ]);
        expect(await read({ categories: [catB], tenantId: t2, eventTypes: ['Alpha'] })).toEqual([
          `${catB}-${t2}.s4-with-dashes/Alpha`,
        ]);
        expect(await read({ ...both, eventTypes: ['Gamma'] })).toEqual([]);
        expect(ids(await store.readAll({ filter: { tenantId: t1, eventTypes: ['Alpha'] } }))).toEqual([
          appended[`${catA}-${t1}.s1/Alpha`],
          appended[`${catB}-${t1}.s2/Alpha`],
        ]);
      });

      it('pages with maxCount from each checkpoint in commit order, skipping and repeating nothing', async () => {
        const { tenant, category } = names();
        const streams = ['x', 'y', 'z'].map((s) => `${category}-${tenant}.${s}`);
        const appended: string[] = [];
        for (let i = 0; i < 12; i++) {
          const id = randomUUID();
          appended.push(id);
          await store.appendToStream(streams[i % 3], [newEvent('Ticked', tenant, { i }, id)]);
        }
        await readUntil(store, { tenantId: tenant }, 12);

        const pages: RecordedEvent[][] = [];
        let after: Checkpoint | undefined;
        for (;;) {
          const page = await store.readAll({ after, filter: { tenantId: tenant }, maxCount: 5 });
          if (page.length === 0) break;
          pages.push(page);
          after = page.at(-1)!.checkpoint;
        }

        expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
        expect(ids(pages.flat())).toEqual(appended);
      });

      it('resumes from the checkpoint of an event it or a subscription delivered, with exactly the rest', async () => {
        const { tenant, category } = names();
        const filter = { tenantId: tenant };
        await store.appendToStream(`${category}-${tenant}.a`, [newEvent('A', tenant), newEvent('B', tenant)]);
        await store.appendToStream(`${category}-${tenant}.b`, [newEvent('C', tenant)]);
        const [first] = await readUntil(store, filter, 3);
        const [subscribed] = await subscribeUntil(store, { filter }, (e) => e.length >= 1);

        expect((await store.readAll({ after: first.checkpoint, filter })).map((e) => e.type)).toEqual([
          'B',
          'C',
        ]);
        expect((await store.readAll({ after: subscribed.checkpoint, filter })).map((e) => e.type)).toEqual([
          'B',
          'C',
        ]);
      });

      it('finds a matching event behind any number of events that do not match', async () => {
        const { tenant, category } = names();
        await store.appendToStream(
          `${category}-${tenant}.noise`,
          Array.from({ length: 40 }, () => newEvent('Noise', tenant)),
        );
        await store.appendToStream(`${category}-${tenant}.signal`, [newEvent('Signal', tenant)]);
        await store.appendToStream(`${category}-${tenant}.noise`, [newEvent('Noise', tenant)]);
        const filter = { tenantId: tenant, eventTypes: ['Signal'] };
        await readUntil(store, { tenantId: tenant }, 42);

        const [signal, ...more] = await store.readAll({ filter, maxCount: 1 });

        expect(signal?.type).toBe('Signal');
        expect(more).toEqual([]);
        expect(await store.readAll({ after: signal.checkpoint, filter })).toEqual([]);
      });
    });

    describe('subscribeToAll', () => {
      it('catches up, then delivers live appends, in order and filtered', async () => {
        const { tenant, category } = names();
        const other = names();
        const expected: string[] = [];
        const append = async (streamName: string, tenantId: string) => {
          const id = randomUUID();
          if (tenantId === tenant) expected.push(id);
          await store.appendToStream(streamName, [newEvent('Happened', tenantId, {}, id)]);
        };
        await append(`${category}-${tenant}.a`, tenant);
        await append(`${category}-${other.tenant}.a`, other.tenant);
        await append(`${category}-${tenant}.b`, tenant);
        const subscription = backgroundSubscription(store, { filter: { tenantId: tenant }, batchSize: 1 });
        await sleep(200);
        await append(`${category}-${tenant}.a`, tenant);
        await append(`${category}-${other.tenant}.a`, other.tenant);
        await append(`${category}-${tenant}.c`, tenant);

        const events = await subscription.stopWhen((e) => e.length >= 4);

        expect(ids(events)).toEqual(expected);
      });

      it('starts after the checkpoint it is given', async () => {
        const { tenant, category } = names();
        await store.appendToStream(`${category}-${tenant}.a`, [newEvent('A', tenant), newEvent('B', tenant)]);
        const [a] = await readUntil(store, { tenantId: tenant }, 2);
        await store.appendToStream(`${category}-${tenant}.b`, [newEvent('C', tenant)]);

        const events = await subscribeUntil(
          store,
          { after: a.checkpoint, filter: { tenantId: tenant } },
          (e) => e.length >= 2,
        );

        expect(events.map((e) => e.type)).toEqual(['B', 'C']);
      });

      it('delivers matching events amid many that do not match, in small pages, caught up and live', async () => {
        const { tenant, category } = names();
        const noise = (n: number) => Array.from({ length: n }, () => newEvent('Noise', tenant));
        const stream = `${category}-${tenant}.a`;
        await store.appendToStream(stream, [
          ...noise(20),
          newEvent('Signal', tenant, { n: 1 }),
          ...noise(20),
        ]);
        await store.appendToStream(stream, [newEvent('Signal', tenant, { n: 2 }), ...noise(5)]);
        const subscription = backgroundSubscription(store, {
          filter: { tenantId: tenant, eventTypes: ['Signal'] },
          batchSize: 2,
        });
        await sleep(300);
        await store.appendToStream(stream, noise(7));
        await store.appendToStream(stream, [newEvent('Signal', tenant, { n: 3 })]);

        const events = await subscription.stopWhen((e) => e.length >= 3);
        await sleep(100);

        expect(events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      });

      it('delivers the same events in pages: none empty, none larger than batchSize, same order', async () => {
        const { tenant, category } = names();
        for (let i = 0; i < 7; i++)
          await store.appendToStream(`${category}-${tenant}.${i % 3}`, [
            newEvent('A', tenant),
            newEvent('B', tenant),
          ]);
        const expected = await subscribeUntil(store, { filter: { tenantId: tenant } }, (e) => e.length >= 14);

        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), DEADLINE_MS);
        const pages: (readonly RecordedEvent[])[] = [];
        try {
          for await (const page of store.subscribeToAllPages({
            filter: { tenantId: tenant },
            batchSize: 4,
            signal: controller.signal,
          })) {
            pages.push(page);
            if (pages.flat().length >= 14) controller.abort();
          }
        } finally {
          clearTimeout(timer);
        }

        expect(pages.every((page) => page.length >= 1 && page.length <= 4)).toBe(true);
        expect(ids(pages.flat())).toEqual(ids(expected));
      });

      it('ends when its signal aborts, also while idle, and at once if already aborted', async () => {
        const { tenant } = names();
        const controller = new AbortController();
        const received: RecordedEvent[] = [];
        const started = Date.now();
        setTimeout(() => controller.abort(), 200);
        for await (const event of store.subscribeToAll({
          filter: { tenantId: tenant },
          signal: controller.signal,
        }))
          received.push(event);

        expect(received).toEqual([]);
        expect(Date.now() - started).toBeLessThan(3_000);

        for await (const event of store.subscribeToAll({ signal: AbortSignal.abort() })) received.push(event);
        expect(received).toEqual([]);
      });
    });

    describe('open transactions', () => {
      itOpen('does not let a reader pass an event whose transaction commits after a later one', async () => {
        const beginOpenAppend = required(harness.beginOpenAppend, 'beginOpenAppend', name);
        const { tenant, category } = names();
        const filter = { tenantId: tenant };
        const subscription = backgroundSubscription(store, { filter });
        await store.appendToStream(`${category}-${tenant}.base`, [newEvent('Before', tenant)]);
        const [before] = await readUntil(store, filter, 1);

        const a = await beginOpenAppend(`${category}-${tenant}.a`, [newEvent('A', tenant)]);
        await store.appendToStream(`${category}-${tenant}.b`, [newEvent('B', tenant)]);
        const whileOpen = await store.readAll({ after: before.checkpoint, filter });
        await sleep(300);
        const subscribedWhileOpen = subscription.events.map((e) => e.type);
        await a.commit();
        const afterCommit = await readUntil(
          store,
          filter,
          2 - whileOpen.length,
          whileOpen.at(-1)?.checkpoint ?? before.checkpoint,
        );
        const subscribed = await subscription.stopWhen((e) => e.length >= 3);

        expect(whileOpen.map((e) => e.type)).not.toContain('A');
        expect(subscribedWhileOpen).not.toContain('A');
        expect([...whileOpen, ...afterCommit].map((e) => e.type).sort()).toEqual(['A', 'B']);
        expect(subscribed.map((e) => e.type).sort()).toEqual(['A', 'B', 'Before']);
        expect(new Set(ids(subscribed)).size).toBe(3);
      });

      for (const where of ['other-database', 'same-database'] as const) {
        itOpen(
          `delivers appends promptly while a long transaction that cannot append runs (${where})`,
          async () => {
            const beginForeign = required(harness.beginForeignTransaction, 'beginForeignTransaction', name);
            const { tenant, category } = names();
            const filter = { tenantId: tenant };
            const foreign = await beginForeign(where);
            try {
              const subscription = backgroundSubscription(store, { filter });
              const started = Date.now();
              for (let i = 0; i < 5; i++)
                await store.appendToStream(`${category}-${tenant}.s${i}`, [
                  newEvent('Appended', tenant, { i }),
                ]);
              // Far below the stranger's transaction, which stays open until the end of the test.
              const read = await readUntil(store, filter, 5);
              const subscribed = await subscription.stopWhen((e) => e.length >= 5);
              const elapsed = Date.now() - started;

              expect(read.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
              expect(subscribed.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
              expect(elapsed).toBeLessThan(DEADLINE_MS);
            } finally {
              await foreign.end();
            }
          },
          SLOW_TEST_MS,
        );
      }
    });

    describe('concurrency', () => {
      it(
        '16 writers racing on one stream with the same expected revision: one wins each round, the rest get WrongExpectedVersionError',
        async () => {
          const { tenant, category } = names();
          const streamName = `${category}-${tenant}.contested`;
          const rounds = 8;
          const winners: number[] = [];
          for (let round = 0; round < rounds; round++) {
            const expectedRevision: ExpectedRevision = round === 0 ? 'no_stream' : 2 * round - 1;
            const results = await Promise.allSettled(
              Array.from({ length: 16 }, (_, writer) =>
                store.appendToStream(
                  streamName,
                  [
                    newEvent('Claimed', tenant, { writer, round, part: 0 }),
                    newEvent('Claimed', tenant, { writer, round, part: 1 }),
                  ],
                  { expectedRevision },
                ),
              ),
            );
            const won = results.flatMap((r, writer) =>
              r.status === 'fulfilled' ? [{ writer, result: r.value }] : [],
            );
            const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
            expect(won).toHaveLength(1);
            expect(won[0].result.nextExpectedRevision).toBe(2 * round + 1);
            expect(lost).toHaveLength(15);
            for (const error of lost) {
              expect(error).toBeInstanceOf(WrongExpectedVersionError);
              expect(error).toMatchObject({ streamName, expected: expectedRevision });
            }
            winners.push(won[0].writer);
          }

          const stream = await store.readStream(streamName);

          expect(stream.map((e) => e.revision)).toEqual(Array.from({ length: 2 * rounds }, (_, i) => i));
          expect(stream.map((e) => e.data)).toEqual(
            winners.flatMap((writer, round) => [
              { writer, round, part: 0 },
              { writer, round, part: 1 },
            ]),
          );
        },
        SLOW_TEST_MS,
      );

      it(
        '16 writers retrying on one stream: every event lands once, with no gap and each writer in its own order',
        async () => {
          const { tenant, category } = names();
          const streamName = `${category}-${tenant}.contested`;
          const perWriter = 5;
          const writer = async (w: number) => {
            for (let i = 0; i < perWriter; i++) {
              for (;;) {
                const current = await store.readStream(streamName, { direction: 'backwards', maxCount: 1 });
                const expectedRevision = current[0]?.revision ?? 'no_stream';
                try {
                  await store.appendToStream(streamName, [newEvent('Counted', tenant, { w, i })], {
                    expectedRevision,
                  });
                  break;
                } catch (error) {
                  if (!(error instanceof WrongExpectedVersionError)) throw error;
                }
              }
            }
          };
          await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));

          const stream = await store.readStream(streamName);

          expect(stream.map((e) => e.revision)).toEqual(Array.from({ length: 16 * perWriter }, (_, i) => i));
          for (let w = 0; w < 16; w++) {
            expect(
              stream
                .map((e) => e.data as { w: number; i: number })
                .filter((d) => d.w === w)
                .map((d) => d.i),
            ).toEqual([0, 1, 2, 3, 4]);
          }
        },
        SLOW_TEST_MS,
      );

      it(
        '16 writers on their own streams while a subscriber and a paging reader run: each sees every event once, in stream order',
        async () => {
          const { tenant, category } = names();
          const filter = { tenantId: tenant };
          const perWriter = 40;
          const total = 16 * perWriter;
          const streams = Array.from({ length: 16 }, (_, w) => `${category}-${tenant}.w${w}`);
          const subscription = backgroundSubscription(store, { filter, batchSize: 50 });
          const paged = readUntil(store, filter, total, undefined, 7);

          await Promise.all(
            streams.map(async (streamName) => {
              for (let i = 0; i < perWriter; i++)
                await store.appendToStream(streamName, [newEvent('Wrote', tenant, { i })], {
                  expectedRevision: i === 0 ? 'no_stream' : i - 1,
                });
            }),
          );
          const subscribed = await subscription.stopWhen((e) => e.length >= total);
          const read = await paged;

          for (const events of [subscribed, read]) {
            expect(events).toHaveLength(total);
            expect(new Set(ids(events)).size).toBe(total);
            expectPerStreamOrder(events, streams, perWriter);
          }
          expect(await store.readAll({ after: read.at(-1)!.checkpoint, filter })).toEqual([]);
        },
        SLOW_TEST_MS,
      );
    });

    describe('restart', () => {
      it('resumes from a saved checkpoint on a new store instance with exactly the rest', async () => {
        const { tenant, category } = names();
        const filter = { tenantId: tenant };
        const streams = [`${category}-${tenant}.a`, `${category}-${tenant}.b`];
        const appended: string[] = [];
        const append = async (s: EventStore, i: number) => {
          const id = randomUUID();
          appended.push(id);
          await s.appendToStream(streams[i % 2], [newEvent('Numbered', tenant, { i }, id)], {
            expectedRevision: i < 2 ? 'no_stream' : Math.floor(i / 2) - 1,
          });
        };
        for (let i = 0; i < 10; i++) await append(store, i);
        const head = await subscribeUntil(store, { filter, batchSize: 3 }, (e) => e.length >= 4);
        const saved = head.at(-1)!.checkpoint;

        await harness.teardown();
        harness = await setup();
        store = harness.store;
        for (let i = 10; i < 13; i++) await append(store, i);
        const rest = appended.slice(4);
        const resumed = await subscribeUntil(store, { after: saved, filter }, (e) => e.length >= rest.length);
        const read = await store.readAll({ after: saved, filter });

        expect(ids(head)).toEqual(appended.slice(0, 4));
        expect(ids(resumed)).toEqual(rest);
        expect(ids(read)).toEqual(rest);
      });
    });
  });
