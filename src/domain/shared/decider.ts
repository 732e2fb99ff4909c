/**
 * Plain-data building blocks for aggregates written as deciders (Emmett style).
 * Depends on nothing: no clock, no ids, no I/O — those arrive inside commands.
 */
export type Message<Type extends string, Data> = Readonly<{ type: Type; data: Readonly<Data> }>;

export type Decider<State, Command, Event> = Readonly<{
  decide: (command: Command, state: State) => Event[];
  evolve: (state: State, event: Event) => State;
  initialState: () => State;
}>;

/** Folds a stream's events into the state the decider decides on. */
export const fold = <State, Event>(
  decider: Pick<Decider<State, never, Event>, 'evolve' | 'initialState'>,
  events: readonly Event[],
): State => events.reduce(decider.evolve, decider.initialState());

/** Base class of the domain's rule violations; the HTTP layer maps them in one place. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
