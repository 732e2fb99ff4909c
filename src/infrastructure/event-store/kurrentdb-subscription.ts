import { setTimeout as sleep } from 'node:timers/promises';
import {
  START,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type KurrentDBClient,
  type Position,
} from '@kurrent/kurrentdb-client';
import type { LogFilter, RecordedEvent } from '../../application/ports/event-store.port.js';
import {
  comparePositions,
  isTransientKurrentError,
  matchesLogFilter,
  serverFilterOf,
  toClientFilter,
  toRecordedEvent,
} from './kurrentdb-mapping.js';

export type KurrentSubscriptionOptions = Readonly<{
  client: Pick<KurrentDBClient, 'subscribeToAll'>;
  /** Exclusive start; undefined: the start of `$all`. */
  after: Position | undefined;
  filter: LogFilter | undefined;
  batchSize: number;
  /** Ends the subscription (the subscriber's signal and the store's closing signal together). */
  signal: AbortSignal;
  /** Pause before resubscribing after a drop, doubled per consecutive drop up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
  /** Consecutive drops without a delivered event before the error is passed on to the subscriber. */
  maxResubscribes: number;
}>;

/** A readable stream in object mode, as the client's subscriptions are. */
type ObjectSource = {
  read(): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
};

/**
 * Up to `batchSize` items already buffered in `source`, as soon as there is at least one: live pages are
 * as small as what just arrived, catch-up pages full. Returns when `source` ends or `signal` aborts;
 * throws what `source` emits as an error.
 */
async function* bufferedPages<T>(
  source: ObjectSource,
  batchSize: number,
  signal: AbortSignal,
): AsyncGenerator<T[]> {
  let failure: { error: unknown } | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onError = (error: unknown): void => {
    failure ??= { error };
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const listeners = { readable: notify, error: onError, end: onEnd, close: onEnd };
  for (const [event, listener] of Object.entries(listeners)) source.on(event, listener);
  signal.addEventListener('abort', notify);
  try {
    while (!signal.aborted) {
      const page: T[] = [];
      for (let item: T | null; page.length < batchSize && (item = source.read() as T | null) !== null;)
        page.push(item);
      if (page.length > 0) {
        yield page;
        continue;
      }
      if (failure) throw failure.error;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    for (const [event, listener] of Object.entries(listeners)) source.removeListener(event, listener);
    signal.removeEventListener('abort', notify);
  }
}

/**
 * Catch-up then live pages of `$all` after `after`, filtered on the server (one dimension) and in process
 * (the rest, kurrentdb-mapping.ts). The client's subscriptions do not resubscribe by themselves: when one
 * drops (a transient error, or the server ends it) this resubscribes, with backoff, after the last event
 * it received — delivered or filtered out, so nothing is delivered twice or skipped — and passes the
 * error on after `maxResubscribes` drops in a row without progress, or at once when it is not transient.
 */
export async function* subscribeKurrentPages(
  options: KurrentSubscriptionOptions,
): AsyncIterable<readonly RecordedEvent[]> {
  const { client, filter, batchSize, signal } = options;
  const serverFilter = toClientFilter(serverFilterOf(filter));
  let last = options.after;
  let drops = 0;
  while (!signal.aborted) {
    const subscription: AllStreamSubscription = client.subscribeToAll(
      { fromPosition: last ?? START, filter: serverFilter },
      { highWaterMark: batchSize },
    );
    // Unsubscribing cancels the gRPC call, which the client reports as no error.
    subscription.on('error', () => undefined);
    let failure: Error | undefined;
    try {
      for await (const page of bufferedPages<AllStreamResolvedEvent>(subscription, batchSize, signal)) {
        const events: RecordedEvent[] = [];
        for (const { event } of page) {
          if (!event) continue;
          // A resubscription from `last` is exclusive; this also holds should a server repeat it.
          if (last && comparePositions(event.position, last) <= 0) continue;
          last = event.position;
          if (matchesLogFilter(filter, event.streamId, event.type)) events.push(toRecordedEvent(event));
        }
        drops = 0;
        if (events.length > 0) yield events;
        if (signal.aborted) return;
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      await subscription.unsubscribe().catch(() => undefined);
    }
    if (signal.aborted) return;
    if (failure && !isTransientKurrentError(failure)) throw failure;
    drops += 1;
    if (drops > options.maxResubscribes)
      throw failure ?? new Error(`The $all subscription ended ${drops} times in a row without an event`);
    const delay = Math.min(options.maxRetryMs, options.retryMs * 2 ** (drops - 1));
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }
}
