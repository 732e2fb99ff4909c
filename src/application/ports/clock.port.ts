/**
 * The current time, injected (`@Inject(CLOCK)`) where a rule depends on the date — the default report
 * period, "`to` ≤ today" — so tests can move it (e.g. across midnight UTC) without faking timers.
 */
export const CLOCK = Symbol('Clock');

export type Clock = Readonly<{ now(): Date }>;

export const systemClock: Clock = { now: () => new Date() };
