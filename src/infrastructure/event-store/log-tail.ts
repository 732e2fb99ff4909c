import type pg from 'pg';
import { categoryOf, type LogFilter, type RecordedEvent } from '../../application/ports/event-store.port.js';
import { readPage } from './reads.js';
import { toRecordedEvent, type Cursor } from './sql.js';
import { Wakeup, type ChangeListener } from './change-listener.js';

/**
 * The one live reader of the log per store (ADR 0024): every subscription that has caught up follows it
 * instead of reading the log itself, so a wake-up costs one read, whatever the number of subscriptions
 * (a projector per tenant, the process manager, the relay, webhooks, SSE) — each keeps its own cursor and
 * filter, applied in memory, and its own checkpoint.
 *
 * The tail reads unfiltered pages of the visible log (reads.ts) after its cursor and keeps the last few as
 * segments, each numbered and contiguous with the one before. A subscription whose cursor is at or past the
 * oldest segment's start follows from there; one further behind (it joined late, or was slow and its
 * segments were dropped) reads on its own until it catches up, as every subscription did before.
 *
 * Why this skips nothing: every read returns a prefix of the visible log, and the visible log only grows at
 * its end (horizon.ts). A subscription's cursor C says it has seen every matching event up to C; the
 * segments hold every event after their start, in order; so the events after C it has not seen are in the
 * segments, or in segments still to come.
 */
export class LogTail {
  private run: TailRun | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly listener: ChangeListener | undefined,
    private readonly options: Readonly<{
      /** Rows per read of the tail. */
      batchSize: number;
      pollIntervalMs: number;
      /** Events kept in memory for followers that are behind; past this the oldest segments go. */
      retainedEvents: number;
      closing: AbortSignal;
    }>,
  ) {}

  /**
   * Registers a follower at `cursor` and returns its handle, or undefined when the tail cannot serve that
   * cursor (it is before the oldest segment kept): the caller reads on its own and tries again later. The
   * tail runs from its first follower's cursor while it has followers.
   */
  join(cursor: Cursor): TailFollower | undefined {
    if (this.options.closing.aborted) return undefined;
    const run = (this.run ??= this.start(cursor));
    const next = run.firstSeqAfter(cursor);
    if (next === undefined) {
      if (run.followers === 0) this.stop(run);
      return undefined;
    }
    run.followers += 1;
    return new TailFollower(run, next, () => {
      run.followers -= 1;
      if (run.followers === 0) this.stop(run);
    });
  }

  private start(cursor: Cursor): TailRun {
    const run = new TailRun(cursor, this.options.retainedEvents);
    void this.loop(run);
    return run;
  }

  private stop(run: TailRun): void {
    run.end(undefined);
    if (this.run === run) this.run = undefined;
  }

  private async loop(run: TailRun): Promise<void> {
    const wakeup = new Wakeup();
    const stop = (): void => wakeup.fire();
    this.options.closing.addEventListener('abort', stop);
    run.onEnd(stop);
    let unlisten = (): void => undefined;
    try {
      if (this.listener) unlisten = await this.listener.add(() => wakeup.fire());
      while (!run.ended && !this.options.closing.aborted) {
        wakeup.clear();
        const page = await readPage(this.pool, run.cursor, undefined, this.options.batchSize, false);
        if (run.ended) return;
        if (page.rows.length > 0) run.append(page.rows.map(toTailEvent));
        if (page.rows.length < this.options.batchSize) await wakeup.wait(this.options.pollIntervalMs);
      }
    } catch (error) {
      // Every follower fails with the error and resubscribes from its checkpoint; the next one restarts the tail.
      run.end(error instanceof Error ? error : new Error(String(error)));
    } finally {
      unlisten();
      this.options.closing.removeEventListener('abort', stop);
      if (this.run === run) this.run = undefined;
      run.end(undefined);
    }
  }
}

/** What a follower is handed: the events of one segment after its cursor, and where it now stands. */
export type TailStep =
  | Readonly<{ kind: 'events'; events: readonly TailEvent[]; cursor: Cursor }>
  /** The follower's next segment was dropped: it reads on its own from its cursor. */
  | Readonly<{ kind: 'behind' }>
  /** The tail stopped (the store is closing, or nobody follows it any more). */
  | Readonly<{ kind: 'ended' }>;

/** One subscription's place in the tail. `leave()` once done with it. */
export class TailFollower {
  private left = false;

  constructor(
    private readonly run: TailRun,
    private nextSeq: number,
    private readonly onLeave: () => void,
  ) {}

  /** The next segment, waiting for the tail to read one; rejects with the tail's read error. */
  async next(signal: AbortSignal): Promise<TailStep> {
    for (;;) {
      if (signal.aborted) return { kind: 'ended' };
      const step = this.ready();
      if (step) return step;
      await this.run.changed(signal);
    }
  }

  /** The next segment if the tail has already read it, without waiting; rejects as {@link next}. */
  ready(): TailStep | undefined {
    const step = this.run.segment(this.nextSeq);
    if (step === 'pending') return undefined;
    if (step === 'behind' || step === 'ended') return { kind: step };
    this.nextSeq += 1;
    return { kind: 'events', events: step.events, cursor: step.last };
  }

  leave(): void {
    if (this.left) return;
    this.left = true;
    this.onLeave();
  }
}

/** An event as the tail keeps it: shared by every follower, with what their filters look at. */
export type TailEvent = Readonly<{
  event: RecordedEvent;
  cursor: Cursor;
  category: string;
  /** As the log's `tenant_id` column: the metadata's `tenantId` as text. */
  tenantId: string | null;
}>;

type Segment = Readonly<{ seq: number; after: Cursor; last: Cursor; events: readonly TailEvent[] }>;

/** One run of the tail, from its first follower to its last: its cursor and the segments it keeps. */
class TailRun {
  cursor: Cursor;
  followers = 0;
  ended = false;
  private error: Error | undefined;
  private readonly segments: Segment[] = [];
  private retained = 0;
  /** Seq of the next segment to be read. */
  private nextSeq = 0;
  private waiters = new Set<() => void>();
  private readonly endHooks: (() => void)[] = [];

  constructor(
    cursor: Cursor,
    private readonly retainedEvents: number,
  ) {
    this.cursor = cursor;
  }

  /** Seq of the first segment a follower at `cursor` needs, or undefined when it is already dropped. */
  firstSeqAfter(cursor: Cursor): number | undefined {
    if (this.ended) return undefined;
    const oldest = this.segments[0];
    if (compareCursors(cursor, oldest ? oldest.after : this.cursor) < 0) return undefined;
    const index = this.segments.findIndex((segment) => compareCursors(segment.last, cursor) > 0);
    return index < 0 ? this.nextSeq : this.segments[index].seq;
  }

  append(events: readonly TailEvent[]): void {
    const last = events[events.length - 1].cursor;
    this.segments.push({ seq: this.nextSeq, after: this.cursor, last, events });
    this.nextSeq += 1;
    this.cursor = last;
    this.retained += events.length;
    while (this.segments.length > 1 && this.retained > this.retainedEvents)
      this.retained -= this.segments.shift()!.events.length;
    this.wakeAll();
  }

  segment(seq: number): Segment | 'pending' | 'behind' | 'ended' {
    if (this.error) throw this.error;
    if (this.ended) return 'ended';
    if (seq >= this.nextSeq) return 'pending';
    const oldest = this.segments[0];
    if (!oldest || seq < oldest.seq) return 'behind';
    return this.segments[seq - oldest.seq];
  }

  /** Resolves at the next segment, the end of the run, or the abort of `signal`. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  onEnd(hook: () => void): void {
    this.endHooks.push(hook);
  }

  end(error: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.segments.length = 0;
    this.retained = 0;
    for (const hook of this.endHooks) hook();
    this.wakeAll();
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }
}

const toTailEvent = (row: Parameters<typeof toRecordedEvent>[0]): TailEvent => {
  const event = toRecordedEvent(row);
  return {
    event,
    cursor: { tx: row.tx, pos: row.pos },
    category: categoryOf(row.stream_name),
    tenantId: metadataText(row.metadata.tenantId),
  };
};

/** `metadata->>'tenantId'`, as the append wrote it into the `tenant_id` column. */
const metadataText = (value: unknown): string | null =>
  value === undefined || value === null ? null : typeof value === 'string' ? value : JSON.stringify(value);

/** Orders cursors as the log does: by transaction id, then position (both unsigned 64-bit integers). */
export const compareCursors = (a: Cursor, b: Cursor): number => {
  const byTx = compareDecimal(a.tx, b.tx);
  return byTx !== 0 ? byTx : compareDecimal(a.pos, b.pos);
};

/** Compares non-negative decimal integers without leading zeros, as text (no BigInt allocation). */
const compareDecimal = (a: string, b: string): number =>
  a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;

/**
 * Whether the log filter (the port's {@link LogFilter}) matches an event of the tail: the same rule as the
 * SQL of `filterClauses` (sql.ts), applied in memory.
 */
export const matchesFilter = (filter: LogFilter | undefined, event: TailEvent): boolean =>
  (filter?.categories === undefined || filter.categories.includes(event.category)) &&
  (filter?.tenantId === undefined || filter.tenantId === event.tenantId) &&
  (filter?.eventTypes === undefined || filter.eventTypes.includes(event.event.type));
