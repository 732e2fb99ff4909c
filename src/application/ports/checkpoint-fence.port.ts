import type { Checkpoint } from './event-store.port.js';

/**
 * A page's checkpoint move, fenced by compare-and-set: `to` is stored only while the stored checkpoint is
 * still `after` — the one the page was read after (undefined: no checkpoint stored yet) — compared with
 * `IS NOT DISTINCT FROM` semantics, in the page's transaction. Leadership (an advisory lock) is not a
 * fence: a leader that lost its lock while a page was in flight could otherwise commit that page after the
 * new leader moved on, and move the checkpoint backwards with stale effects. The stored checkpoint is the
 * fencing token (Kleppmann, "How to do distributed locking", 2016; ADR 0014).
 */
export type CheckpointMove = Readonly<{ after: Checkpoint | undefined; to: Checkpoint }>;

/**
 * The stored checkpoint is no longer the one the page was read after: another writer (a new leader, a
 * rebuild's switch, an operator) moved it. Thrown inside the page's transaction, so the page commits
 * nothing. The subscription runner treats it as transient: it restarts from the stored checkpoint,
 * counting nothing against the page's events and parking none.
 */
export class CheckpointMoved extends Error {
  override readonly name = 'CheckpointMoved';
  constructor(
    readonly subscription: string,
    readonly expected: Checkpoint | undefined,
  ) {
    super(`${subscription}: checkpoint moved since ${expected ?? 'the start'}; the page was not applied`);
  }
}
