import { setTimeout as wait } from 'node:timers/promises';
import type pg from 'pg';
import type { LogFilter, RecordedEvent } from '../../application/ports/event-store.port.js';
import { compareCursors, matchesFilter, type LogTail, type TailEvent, type TailStep } from './log-tail.js';
import { readPage } from './reads.js';
import { toRecordedEvent, type Cursor } from './sql.js';

/** Before every event of the log: positions start at 1 and transaction ids above 0. */
const LOG_START: Cursor = { tx: '0', pos: '0' };

export type PageSubscription = Readonly<{
  pool: pg.Pool;
  tail: LogTail;
  after: Cursor | undefined;
  filter: LogFilter | undefined;
  batchSize: number;
  pollIntervalMs: number;
  /** The subscriber's signal and the store's closing signal. */
  signals: readonly AbortSignal[];
}>;

/**
 * Catch-up then live pages of the log. Catching up, the subscription reads filtered pages itself (the
 * cursor moves past events it does not want: reads.ts); once a page comes back short it follows the store's
 * one {@link LogTail}, taking the events of each tail segment that are after its cursor and match its filter,
 * in pages of at most `batchSize`. Behind the tail (it was slow and the tail dropped what it needs), it
 * catches up on its own again.
 */
export async function* subscribePages(options: PageSubscription): AsyncIterable<readonly RecordedEvent[]> {
  const { pool, tail, filter, batchSize, pollIntervalMs } = options;
  const signal = AbortSignal.any([...options.signals]);
  let cursor = options.after ?? LOG_START;
  while (!signal.aborted) {
    const page = await readPage(pool, cursor, filter, batchSize, true);
    if (page.rows.length > 0) {
      yield page.rows.map(toRecordedEvent);
      if (signal.aborted) return;
    }
    cursor = page.next ?? cursor;
    if (page.rows.length >= batchSize) continue;

    const follower = tail.join(cursor);
    if (!follower) {
      // The tail started after this cursor (an event held back by a transaction still open, or a cursor
      // handed in from a stream read): read again at the next poll.
      await wait(pollIntervalMs, undefined, { signal }).catch(() => undefined);
      continue;
    }
    try {
      for (
        let step = await follower.next(signal);
        step.kind === 'events';
        step = await follower.next(signal)
      ) {
        // What the tail has already read beyond this segment joins the page (up to batchSize): a consumer
        // that fell behind by a few segments catches up in one page, one transaction, not one per segment.
        const wanted: TailEvent[] = [];
        for (let more: TailStep | undefined = step; more?.kind === 'events'; more = follower.ready()) {
          for (const event of more.events)
            if (compareCursors(event.cursor, cursor) > 0 && matchesFilter(filter, event)) wanted.push(event);
          cursor = more.cursor;
          if (wanted.length >= batchSize) break;
        }
        for (let start = 0; start < wanted.length; start += batchSize) {
          yield wanted.slice(start, start + batchSize).map(eventOf);
          if (signal.aborted) return;
        }
      }
    } finally {
      follower.leave();
    }
  }
}

const eventOf = (tailEvent: TailEvent): RecordedEvent => tailEvent.event;
