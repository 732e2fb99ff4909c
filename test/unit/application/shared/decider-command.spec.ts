import {
  type AppendResult,
  type Checkpoint,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedVersionError,
} from '../../../../src/application/ports/event-store.port.js';
import { executeDecider } from '../../../../src/application/shared/decider-command.js';
import type { Decider } from '../../../../src/domain/shared/decider.js';

/** A counter: `Add` adds, refused past 10; an `Add` of 0 decides nothing. */
type Added = { type: 'Added'; data: { n: number } };
type Add = { type: 'Add'; data: { n: number } };
const counter: Decider<number, Add, Added> = {
  initialState: () => 0,
  evolve: (total, event) => total + event.data.n,
  decide: (command, total) => {
    if (total + command.data.n > 10) throw new Error('over the limit');
    return command.data.n === 0 ? [] : [{ type: 'Added', data: { n: command.data.n } }];
  },
};

/** Just enough of the port for the write path: one stream, optional injected conflicts. */
class MemoryStore implements Pick<EventStore, 'appendToStream' | 'readStream'> {
  readonly events: RecordedEvent[] = [];
  appends = 0;
  conflictsToInject = 0;

  async readStream(): Promise<RecordedEvent[]> {
    return [...this.events];
  }

  async appendToStream(
    stream: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    this.appends++;
    const current = this.events.length - 1;
    if (this.conflictsToInject > 0) {
      this.conflictsToInject--;
      this.events.push(this.record(stream, { type: 'Added', data: { n: 1 }, metadata: { tenantId: 't' } }));
      throw new WrongExpectedVersionError(stream, options.expectedRevision ?? 'any', current + 1);
    }
    const expected = options.expectedRevision === 'no_stream' ? -1 : options.expectedRevision;
    if (expected !== current)
      throw new WrongExpectedVersionError(stream, options.expectedRevision ?? 'any', current);
    for (const event of events) this.events.push(this.record(stream, event));
    return {
      nextExpectedRevision: this.events.length - 1,
      checkpoint: String(this.events.length) as Checkpoint,
    };
  }

  private record(stream: string, event: NewEvent): RecordedEvent {
    const revision = this.events.length;
    return {
      ...event,
      id: `e${revision}`,
      streamName: stream,
      revision,
      checkpoint: String(revision) as Checkpoint,
      createdAt: new Date(),
    };
  }
}

const add = (n: number): Add => ({ type: 'Add', data: { n } });
const run = (store: MemoryStore, command: Add | readonly Add[]) =>
  executeDecider(store as unknown as EventStore, counter, 'counter-t.1', command, { tenantId: 't' });

describe('executeDecider', () => {
  it('appends the events of several commands in one append, deciding each on the state the previous left', async () => {
    const store = new MemoryStore();
    const result = await run(store, [add(2), add(0), add(3)]);
    expect(result.events.map((e) => e.data.n)).toEqual([2, 3]);
    expect(result.state).toBe(5);
    expect(store.appends).toBe(1);
    expect(store.events.map((e) => e.revision)).toEqual([0, 1]);
  });

  it('appends nothing when every command decides nothing', async () => {
    const store = new MemoryStore();
    expect((await run(store, [add(0), add(0)])).events).toEqual([]);
    expect(store.appends).toBe(0);
  });

  it('is all or nothing: a refused command leaves the stream untouched', async () => {
    const store = new MemoryStore();
    await expect(run(store, [add(4), add(7)])).rejects.toThrow('over the limit');
    expect(store.events).toEqual([]);
  });

  it('decides again on the fresh state after a concurrent writer won', async () => {
    const store = new MemoryStore();
    store.conflictsToInject = 2;
    const result = await run(store, add(5));
    expect(result.state).toBe(7); // two concurrent +1s, then ours
    expect(store.events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 1 }, { n: 5 }]);
  });
});
