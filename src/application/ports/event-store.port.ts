/**
 * The event store port, with EventStoreDB semantics so that the PostgreSQL adapter (default) and the
 * EventStoreDB adapter are interchangeable and pass one contract suite (test/support/event-store-contract.ts).
 *
 * Stream names carry the tenant: `{category}-{tenantId}.{id}`, e.g. `report-acme.01J…`. The category is the
 * text before the first `-` (as EventStoreDB's `$ce-`), so tenant ids never contain `-`.
 */
export const EVENT_STORE = Symbol('EventStore');

/** `any`: no check; `no_stream`: must not exist; `stream_exists`: must exist; a number: the exact current revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export type EventMetadata = Readonly<{
  tenantId: string;
  correlationId?: string;
  causationId?: string;
  userId?: string;
  /** W3C traceparent of the request that started the work, so later steps can link to it. */
  traceparent?: string;
  [key: string]: unknown;
}>;

export type NewEvent<Type extends string = string, Data = unknown> = Readonly<{
  /** Defaults to a random UUID; consumers dedupe on it. */
  id?: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}>;

/**
 * Opaque position in the global log. Only the store compares checkpoints.
 *
 * A reader resumes without skipping only from the checkpoint of an event that `readAll` or a subscription
 * delivered to it: those come in commit order. Every `RecordedEvent` carries one (and so does an
 * `AppendResult`), but an event read from its stream may have committed before an earlier-positioned
 * transaction that is still open, so resuming after its checkpoint can skip that transaction's events.
 */
export type Checkpoint = string & { readonly __brand: 'Checkpoint' };

export type RecordedEvent<Type extends string = string, Data = unknown> = Readonly<{
  id: string;
  streamName: string;
  /** 0-based revision inside the stream. */
  revision: number;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  /**
   * Position in the global log. Resume a read or subscription after it only when the event came from
   * `readAll` or a subscription (see {@link Checkpoint}).
   */
  checkpoint: Checkpoint;
  createdAt: Date;
}>;

export type AppendResult = Readonly<{
  /** Revision of the last event appended: the expected revision of the next append. */
  nextExpectedRevision: number;
  /**
   * Position of the last event appended: a read or subscription after it returns none of this append. Not
   * a place to resume a consumer from: it can be ahead of events that commit later (see {@link Checkpoint}).
   */
  checkpoint: Checkpoint;
}>;

export type ReadStreamOptions = Readonly<{
  direction?: 'forwards' | 'backwards';
  /** Inclusive start revision (forwards default 0, backwards default the end). */
  fromRevision?: number;
  maxCount?: number;
}>;

export type LogFilter = Readonly<{
  /** Stream categories, e.g. `['report']`. */
  categories?: readonly string[];
  /**
   * Events of this tenant's streams (`{category}-{tenantId}.…`), whose metadata carries the same tenant:
   * PostgreSQL matches the metadata, KurrentDB the stream name (server-side prefixes).
   */
  tenantId?: string;
  eventTypes?: readonly string[];
}>;

export type ReadAllOptions = Readonly<{
  /** Exclusive: events strictly after this checkpoint. Omitted: from the start. */
  after?: Checkpoint;
  filter?: LogFilter;
  maxCount?: number;
}>;

export type SubscribeOptions = Readonly<{
  after?: Checkpoint;
  filter?: LogFilter;
  /** Ends the subscription: the iterator returns. */
  signal: AbortSignal;
  /** Page size of catch-up reads. */
  batchSize?: number;
}>;

export interface EventStore {
  /**
   * Appends `events` (at least one) atomically; rejects with WrongExpectedVersionError, having written
   * nothing, when the expected revision (default `any`) does not hold.
   */
  appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;

  /** Empty array when the stream does not exist. */
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;

  /**
   * Reads the global log in commit order. Never returns an event while an earlier-committing
   * transaction could still add one before it: a reader that resumes from the last checkpoint
   * it saw skips nothing.
   */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;

  /**
   * Catch-up then live subscription to the global log, in the same order as readAll. `after` must be a
   * checkpoint that readAll or a subscription delivered (see {@link Checkpoint}).
   */
  subscribeToAll(options: SubscribeOptions): AsyncIterable<RecordedEvent>;

  /**
   * The same subscription, a page at a time (never empty; at most `batchSize` events): a consumer that
   * applies each page in one transaction, with the page's last checkpoint, pays one commit per page.
   */
  subscribeToAllPages(options: SubscribeOptions): AsyncIterable<readonly RecordedEvent[]>;

  /**
   * Stores whose readers wait for open appends (PostgreSQL): what holds them back now. Subscriber lag
   * counts visible events only, so a stall behind an open append shows here, not there.
   */
  horizonHold?(): Promise<HorizonHold>;
}

/** Open append transactions holding readers back, and the age in seconds of the oldest (0 when none). */
export type HorizonHold = Readonly<{ appenders: number; heldSeconds: number }>;

/**
 * An append step in place of the store's own, e.g. one fenced by a lease (ScheduledWork.appendFenced):
 * same contract as {@link EventStore.appendToStream}, and it may also reject with its own error.
 */
export type AppendToStream = EventStore['appendToStream'];

/** Thrown by appendToStream when the expected revision does not hold. */
export class WrongExpectedVersionError extends Error {
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`Stream ${streamName}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedVersionError';
  }
}

/** `report-acme.123` → `report`; a name without `-` has no category (`''`), as in EventStoreDB. */
export const categoryOf = (streamName: string): string => {
  const dash = streamName.indexOf('-');
  return dash < 0 ? '' : streamName.slice(0, dash);
};

export const streamNameFor = (category: string, tenantId: string, id: string): string =>
  `${category}-${tenantId}.${id}`;
