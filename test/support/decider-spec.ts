import { fold, type Decider } from '../../src/domain/shared/decider.js';

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Given/when/then for any decider: *given* past events, *when* a command, *then* the new events (or an
 * error). `then` also folds the new events, so a test fails when evolve cannot take what decide produced,
 * and optionally checks the state that results.
 */
export const deciderSpec = <State, Command, Event>(decider: Decider<State, Command, Event>) => ({
  given: (events: readonly Event[]) => {
    const state = () => fold(decider, events);
    return {
      when: (command: Command) => {
        const run = () => decider.decide(command, state());
        return {
          /** `expectedState`: what the state looks like once the new events are folded in too. */
          then: (expected: readonly Event[], expectedState?: Partial<State>): void => {
            const produced = run();
            expect(produced).toEqual(expected);
            const after = fold(decider, [...events, ...produced]);
            if (expectedState !== undefined) expect(after).toMatchObject(expectedState);
          },
          thenThrows: (errorClass: ErrorClass, code?: string): void => {
            let thrown: unknown;
            try {
              run();
            } catch (error) {
              thrown = error;
            }
            expect(thrown).toBeInstanceOf(errorClass);
            if (code !== undefined) expect(thrown).toHaveProperty('code', code);
          },
        };
      },
    };
  },
});
