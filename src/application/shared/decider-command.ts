import { type Decider, fold } from '../../domain/shared/decider.js';
import {
  type EventMetadata,
  type EventStore,
  type RecordedEvent,
  WrongExpectedVersionError,
} from '../ports/event-store.port.js';

type PlainEvent = { readonly type: string; readonly data: unknown };

export type DecisionResult<State, Event> = Readonly<{
  /** The events this command appended (empty when the decider answered with a no-op). */
  events: Event[];
  /** State after the command. */
  state: State;
}>;

/**
 * The one write path: load the stream, fold, decide, append with the revision that was read.
 * A concurrent writer makes the append fail with WrongExpectedVersion; the command is then decided
 * again on the fresh state (deciders are pure, so retrying is safe). Several commands are decided one
 * after the other on the evolving state and their events appended at once: all or nothing.
 */
export const executeDecider = async <State, Command, Event extends PlainEvent>(
  store: Pick<EventStore, 'readStream' | 'appendToStream'>,
  decider: Decider<State, Command, Event>,
  streamName: string,
  command: Command | readonly Command[],
  metadata: EventMetadata,
  {
    retries = 10,
    upcast = toDomainEvent<Event>,
  }: {
    retries?: number;
    /** Old event shapes → current, as every reader does. */ upcast?: (e: RecordedEvent) => Event;
  } = {},
): Promise<DecisionResult<State, Event>> => {
  const commands: readonly Command[] = Array.isArray(command) ? command : [command as Command];
  for (let attempt = 0; ; attempt++) {
    const recorded = await store.readStream(streamName);
    const state = fold(decider, recorded.map(upcast));
    const events: Event[] = [];
    let decided = state;
    for (const one of commands) {
      const more = decider.decide(one, decided);
      events.push(...more);
      decided = more.reduce(decider.evolve, decided);
    }
    if (events.length === 0) return { events, state };
    try {
      await store.appendToStream(
        streamName,
        events.map((e) => ({ type: e.type, data: e.data, metadata })),
        { expectedRevision: recorded.length === 0 ? 'no_stream' : recorded[recorded.length - 1].revision },
      );
      return { events, state: decided };
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError) || attempt >= retries) throw error;
    }
  }
};

export const toDomainEvent = <Event extends PlainEvent>(recorded: RecordedEvent): Event =>
  ({ type: recorded.type, data: recorded.data }) as Event;
