import { randomUUID } from 'node:crypto';
import {
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  START,
  StreamNotFoundError,
  jsonEvent,
  type JSONType,
  type Position,
  type ReadPosition,
} from '@kurrent/kurrentdb-client';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
} from '../../application/ports/event-store.port.js';
import {
  comparePositions,
  decodeCheckpoint,
  matchesLogFilter,
  serverFilterOf,
  toClientFilter,
  toPortAppendError,
  toRecordedEvent,
  toStreamState,
} from './kurrentdb-mapping.js';
import { subscribeKurrentPages } from './kurrentdb-subscription.js';

/** What the store uses of the client: narrow, so a test can stand in for the server. */
export type KurrentClient = Pick<
  KurrentDBClient,
  'appendToStream' | 'readStream' | 'readAll' | 'subscribeToAll' | 'dispose'
>;

export type KurrentDbEventStoreOptions = Readonly<{
  /** Page size of subscriptions when the subscriber gives none, and of `$all` reads. Default 500. */
  batchSize?: number;
  /** First pause before resubscribing a dropped subscription, doubled per drop. Default 500 ms. */
  resubscribeDelayMs?: number;
  /** Longest pause between resubscriptions. Default 10 s. */
  maxResubscribeDelayMs?: number;
  /** Drops in a row without progress after which a subscription fails. Default 8. */
  maxResubscribes?: number;
}>;

const assertCount = (value: number | undefined, name: string): void => {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0))
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
};

/**
 * The event store on KurrentDB (EventStoreDB's successor) through @kurrent/kurrentdb-client (ADR 0021).
 * Streams, revisions and `$all` are the server's own; the port's checkpoints are `$all` positions
 * (kurrentdb-mapping.ts); `$all` reads and subscriptions are filtered on the server on one dimension of
 * the LogFilter and in process on the rest. The store owns its client: `close()` disposes it.
 *
 * What it cannot do: append inside a PostgreSQL transaction (`appendWithin`); fenced appends of scheduled
 * work degrade to check-then-append guarded by the expected revision (PostgresScheduledWork.appendFenced).
 */
export class KurrentDbEventStore implements EventStore {
  private readonly batchSize: number;
  private readonly closing = new AbortController();

  constructor(
    private readonly client: KurrentClient,
    private readonly options: KurrentDbEventStoreOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    assertCount(this.batchSize, 'batchSize');
  }

  /**
   * A store on `connectionString` (`kurrentdb://…` or `esdb://…`, with `?tls=false` for an insecure node).
   * Connects lazily: a server that is down shows in the first call, not here.
   */
  static connect(connectionString: string, options: KurrentDbEventStoreOptions = {}): KurrentDbEventStore {
    return new KurrentDbEventStore(KurrentDBClient.connectionString(connectionString), options);
  }

  /** Ends every subscription of this store, then disposes the client (its gRPC channels). */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await this.client.dispose();
  }

  async appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    if (events.length === 0) throw new RangeError(`appendToStream(${streamName}): no events`);
    const expected = options.expectedRevision ?? 'any';
    const streamState = toStreamState(expected);
    let nextExpectedRevision: bigint;
    try {
      ({ nextExpectedRevision } = await this.client.appendToStream(
        streamName,
        events.map((event) =>
          jsonEvent({
            id: event.id ?? randomUUID(),
            type: event.type,
            // Any JSON value: the client writes JSON.stringify(data) and parses it back.
            data: (event.data ?? null) as JSONType,
            metadata: event.metadata,
          }),
        ),
        { streamState },
      ));
    } catch (error) {
      throw toPortAppendError(error, streamName, expected);
    }
    // The checkpoint is the $all position of the last event appended, read back: what the append's own
    // reply carries is not documented to be that event's position (ADR 0021).
    const [last] = await this.readStream(streamName, {
      fromRevision: Number(nextExpectedRevision),
      maxCount: 1,
    });
    if (!last) throw new Error(`appendToStream(${streamName}): revision ${nextExpectedRevision} not found`);
    return { nextExpectedRevision: Number(nextExpectedRevision), checkpoint: last.checkpoint };
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    assertCount(options.fromRevision, 'fromRevision');
    assertCount(options.maxCount, 'maxCount');
    if (options.maxCount === 0) return [];
    const backwards = options.direction === 'backwards';
    const events: RecordedEvent[] = [];
    try {
      for await (const { event } of this.client.readStream(streamName, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision:
          options.fromRevision === undefined ? (backwards ? END : START) : BigInt(options.fromRevision),
        ...(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
      }))
        if (event) events.push(toRecordedEvent(event));
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return events;
  }

  /**
   * Pages of `$all` (server-filtered on one dimension) until `maxCount` events match the whole filter or
   * the log ends. A read from a position includes the event there, so events up to `after` are dropped.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    assertCount(options.maxCount, 'maxCount');
    const wanted = options.maxCount ?? Number.POSITIVE_INFINITY;
    const filter = toClientFilter(serverFilterOf(options.filter));
    const events: RecordedEvent[] = [];
    let after: Position | undefined =
      options.after === undefined ? undefined : decodeCheckpoint(options.after);
    while (events.length < wanted) {
      const pageSize = Math.min(wanted - events.length, this.batchSize) + 1;
      const from: ReadPosition = after ?? START;
      let received = 0;
      let moved = false;
      for await (const { event } of this.client.readAll({ fromPosition: from, maxCount: pageSize, filter })) {
        received += 1;
        if (!event || (after && comparePositions(event.position, after) <= 0)) continue;
        after = event.position;
        moved = true;
        if (!matchesLogFilter(options.filter, event.streamId, event.type)) continue;
        events.push(toRecordedEvent(event));
        if (events.length >= wanted) break;
      }
      // A short page is the end of the log; a page that did not move on would be read again forever.
      if (received < pageSize || !moved) break;
    }
    return events;
  }

  async *subscribeToAll(options: SubscribeOptions): AsyncIterable<RecordedEvent> {
    for await (const page of this.subscribeToAllPages(options)) {
      for (const event of page) {
        yield event;
        // A consumer that aborted while handling an event gets nothing more, not the rest of the page.
        if (options.signal.aborted || this.closing.signal.aborted) return;
      }
    }
  }

  subscribeToAllPages(options: SubscribeOptions): AsyncIterable<readonly RecordedEvent[]> {
    const batchSize = options.batchSize ?? this.batchSize;
    assertCount(batchSize, 'batchSize');
    return subscribeKurrentPages({
      client: this.client,
      after: options.after === undefined ? undefined : decodeCheckpoint(options.after),
      filter: options.filter,
      batchSize: Math.max(1, batchSize),
      signal: AbortSignal.any([options.signal, this.closing.signal]),
      retryMs: this.options.resubscribeDelayMs ?? 500,
      maxRetryMs: this.options.maxResubscribeDelayMs ?? 10_000,
      maxResubscribes: this.options.maxResubscribes ?? 8,
    });
  }
}
