import { Readable } from 'node:stream';
import {
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendResult,
  type AppendToStreamOptions,
  type EventData,
  type Filter,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeToAllOptions,
} from '@kurrent/kurrentdb-client';
import type { KurrentClient } from '../../src/infrastructure/event-store/kurrentdb-event-store.js';

/**
 * An in-memory stand-in for a KurrentDB server behind the client's API, for the parts of the adapter that
 * can be tested without a server (this machine runs none). It models the server as documented, and no
 * more: `$all` positions (from 2^60, beyond 2^53), a read of `$all` from a position includes the event
 * there, a subscription from a position excludes it, server-side filters on one of stream name or event
 * type, `StreamNotFoundError` for a missing stream, stream states and `WrongExpectedVersionError`, data
 * and metadata through JSON. The append reply carries the position of the batch's first event, so the
 * adapter cannot lean on it. `drop(error)` ends every open subscription with `error`, as a lost
 * connection does. What it proves is the adapter's logic against that model, not the real server.
 */
export class FakeKurrentDb {
  private readonly log: AllStreamRecordedEvent[] = [];
  private readonly subscriptions = new Set<{
    stream: Readable;
    after: Position | undefined;
    filter: Filter | undefined;
  }>();
  private next = 2n ** 60n;
  /** `fromPosition` of every subscribeToAll call, in order. */
  readonly subscribedFrom: SubscribeToAllOptions['fromPosition'][] = [];

  /** A client on this server; each call is a new connection (a restarted process). */
  client(): KurrentClient & { disposed: boolean } {
    const client = {
      disposed: false,
      appendToStream: (
        streamName: string,
        events: EventData | EventData[],
        options?: AppendToStreamOptions,
      ) => this.append(streamName, Array.isArray(events) ? events : [events], options),
      readStream: (streamName: string, options?: ReadStreamOptions) => this.readStream(streamName, options),
      readAll: (options?: ReadAllOptions) => this.readAll(options),
      subscribeToAll: (options?: SubscribeToAllOptions, readable?: { highWaterMark?: number }) =>
        this.subscribe(options, readable?.highWaterMark),
      dispose: async () => {
        client.disposed = true;
      },
    };
    return client as unknown as KurrentClient & { disposed: boolean };
  }

  /** Ends every open subscription with `error`. */
  drop(error: Error): void {
    for (const subscription of this.subscriptions) subscription.stream.destroy(error);
    this.subscriptions.clear();
  }

  get openSubscriptions(): number {
    return this.subscriptions.size;
  }

  private async append(
    streamName: string,
    events: readonly EventData[],
    options: AppendToStreamOptions = {},
  ): Promise<AppendResult> {
    await Promise.resolve();
    const current = this.revisionOf(streamName);
    const expected = options.streamState ?? 'any';
    const holds =
      expected === 'any' ||
      (expected === 'no_stream' && current < 0n) ||
      (expected === 'stream_exists' && current >= 0n) ||
      expected === current;
    if (!holds)
      throw new WrongExpectedVersionError(undefined, {
        streamName,
        expected,
        current: current < 0n ? 'no_stream' : current,
      });
    const written = events.map((event, i): AllStreamRecordedEvent => {
      const position = { commit: this.next, prepare: this.next };
      this.next += 97n;
      return {
        streamId: streamName,
        id: event.id,
        isJson: true,
        revision: current + 1n + BigInt(i),
        type: event.type,
        data: JSON.parse(JSON.stringify(event.data)) as never,
        metadata: JSON.parse(JSON.stringify(event.metadata)) as never,
        created: new Date(),
        position,
      };
    });
    this.log.push(...written);
    for (const subscription of this.subscriptions)
      for (const event of written)
        if (this.matches(subscription.filter, event)) subscription.stream.push({ event });
    return { success: true, nextExpectedRevision: written.at(-1)!.revision, position: written[0].position };
  }

  private revisionOf(streamName: string): bigint {
    return this.log.filter((e) => e.streamId === streamName).at(-1)?.revision ?? -1n;
  }

  private async *readStream(
    streamName: string,
    {
      direction = 'forwards',
      fromRevision = 'start',
      maxCount = Number.MAX_SAFE_INTEGER,
    }: ReadStreamOptions = {},
  ): AsyncIterableIterator<AllStreamResolvedEvent> {
    await Promise.resolve();
    const stream = this.log.filter((e) => e.streamId === streamName);
    if (stream.length === 0) throw new StreamNotFoundError(undefined, streamName);
    const ordered = direction === 'backwards' ? [...stream].reverse() : stream;
    const from = (e: AllStreamRecordedEvent) =>
      typeof fromRevision !== 'bigint' ||
      (direction === 'backwards' ? e.revision <= fromRevision : e.revision >= fromRevision);
    yield* ordered
      .filter(from)
      .slice(0, Number(maxCount))
      .map((event) => ({ event }));
  }

  private async *readAll({
    fromPosition = 'start',
    maxCount = Number.MAX_SAFE_INTEGER,
    filter,
  }: ReadAllOptions = {}): AsyncIterableIterator<AllStreamResolvedEvent> {
    await Promise.resolve();
    if (fromPosition === 'end') return;
    const start = fromPosition === 'start' ? undefined : fromPosition;
    yield* this.log
      .filter((e) => !start || e.position.commit >= start.commit)
      .filter((e) => this.matches(filter, e))
      .slice(0, Number(maxCount))
      .map((event) => ({ event }));
  }

  private subscribe(options: SubscribeToAllOptions = {}, highWaterMark = 16): AllStreamSubscription {
    this.subscribedFrom.push(options.fromPosition);
    const after = typeof options.fromPosition === 'object' ? options.fromPosition : undefined;
    const stream = new Readable({ objectMode: true, highWaterMark, read: () => undefined });
    const subscription = { stream, after, filter: options.filter };
    this.subscriptions.add(subscription);
    if (options.fromPosition !== 'end')
      for (const event of this.log)
        if ((!after || event.position.commit > after.commit) && this.matches(options.filter, event))
          stream.push({ event });
    return Object.assign(stream, {
      unsubscribe: async () => {
        this.subscriptions.delete(subscription);
        stream.destroy();
      },
    });
  }

  private matches(filter: Filter | undefined, event: AllStreamRecordedEvent): boolean {
    if (!filter) return true;
    const subject = filter.filterOn === 'streamName' ? event.streamId : event.type;
    return 'prefixes' in filter
      ? filter.prefixes.some((prefix) => subject.startsWith(prefix))
      : new RegExp(filter.regex).test(subject);
  }
}
