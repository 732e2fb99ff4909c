import {
  ANY,
  ErrorType,
  NO_STREAM,
  STREAM_EXISTS,
  WrongExpectedVersionError as KurrentWrongExpectedVersionError,
  eventTypeFilter,
  isCommandError,
  streamNameFilter,
  type AllStreamRecordedEvent,
  type AppendStreamState,
  type CurrentStreamState,
  type Filter,
  type Position,
  type RecordedEvent as KurrentRecordedEvent,
} from '@kurrent/kurrentdb-client';
import {
  WrongExpectedVersionError,
  categoryOf,
  type Checkpoint,
  type EventMetadata,
  type ExpectedRevision,
  type LogFilter,
  type RecordedEvent,
} from '../../application/ports/event-store.port.js';

/**
 * The pure translations between the event-store port and @kurrent/kurrentdb-client (ADR 0021): checkpoints,
 * expected revisions, errors, log filters and recorded events. No I/O, so all of it is unit-tested.
 */

const MAX_POSITION = 2n ** 64n - 1n;

/**
 * A `$all` position as the port's opaque checkpoint: `{commit}/{prepare}` in decimal. The bigints never go
 * through a number (positions pass 2^53 on large logs) nor through `JSON.stringify` (which throws on
 * bigint). The `/` keeps it apart from the PostgreSQL store's `{tx}:{pos}`: a checkpoint saved by one
 * store is refused by the other instead of being misread.
 */
export const encodeCheckpoint = (position: Position): Checkpoint => {
  for (const part of [position.commit, position.prepare])
    if (part < 0n || part > MAX_POSITION) throw new RangeError(`Not a $all position: ${String(part)}`);
  return `${position.commit}/${position.prepare}` as Checkpoint;
};

/** The `$all` position of a checkpoint from {@link encodeCheckpoint}; TypeError for any other string. */
export const decodeCheckpoint = (checkpoint: Checkpoint): Position => {
  const match = /^(\d{1,20})\/(\d{1,20})$/.exec(checkpoint);
  const position = match ? { commit: BigInt(match[1]), prepare: BigInt(match[2]) } : undefined;
  if (!position || position.commit > MAX_POSITION || position.prepare > MAX_POSITION)
    throw new TypeError(`Not a KurrentDB event store checkpoint: ${JSON.stringify(checkpoint)}`);
  return position;
};

/** Order of two `$all` positions: negative, zero or positive, as for `Array.prototype.sort`. */
export const comparePositions = (a: Position, b: Position): number => {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
};

/** The port's expected revision as the client's stream state; RangeError for a revision that is not a count. */
export const toStreamState = (expected: ExpectedRevision): AppendStreamState => {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      if (!Number.isSafeInteger(expected) || expected < 0)
        throw new RangeError(`expectedRevision must be a non-negative integer, got ${expected}`);
      return BigInt(expected);
  }
};

/** The client's current stream state as the port's `actual`: a deleted stream (negative) counts as none. */
export const toActualRevision = (actual: CurrentStreamState): number | 'no_stream' =>
  actual === NO_STREAM || actual < 0n ? 'no_stream' : Number(actual);

/**
 * The port's WrongExpectedVersionError, with the revision the caller expected and the stream's actual
 * one, for the client's; any other error unchanged.
 */
export const toPortAppendError = (error: unknown, streamName: string, expected: ExpectedRevision): unknown =>
  error instanceof KurrentWrongExpectedVersionError
    ? new WrongExpectedVersionError(streamName, expected, toActualRevision(error.actualState))
    : error;

/**
 * True for a failure of the connection rather than of the request (server down or restarting, leader
 * change, deadline): a dropped subscription resubscribes after these and fails on anything else.
 */
export const isTransientKurrentError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  if (isCommandError(error))
    return [
      ErrorType.UNAVAILABLE,
      ErrorType.DEADLINE_EXCEEDED,
      ErrorType.TIMEOUT,
      ErrorType.NOT_LEADER,
      ErrorType.CANCELLED,
    ].includes(error.type);
  // Connection errors that the client passes on as they come from grpc-js.
  return /\bUNAVAILABLE\b|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/.test(
    error.message,
  );
};

/** What the server can filter on (one of stream name or event type), as plain data. */
export type ServerFilter =
  | Readonly<{ on: 'streamName' | 'eventType'; prefixes: readonly string[] }>
  | Readonly<{ on: 'streamName' | 'eventType'; regex: string }>;

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** Every stream name that is not a system stream (`$…`, which includes `$$…` metadata streams). */
export const USER_STREAMS: ServerFilter = { on: 'streamName', regex: '^[^$]' };

/**
 * The part of a LogFilter that the server applies to `$all`. KurrentDB filters on the stream name or on
 * the event type, not both; the rest is checked in process by {@link matchesLogFilter}. Choice, most
 * selective first: a tenant → stream prefixes `{category}-{tenant}.` (or a regex when no category is
 * given); else event types → an exact event-type regex; else categories → stream prefixes `{category}-`;
 * else all user streams. Tenant ids never contain `-` or `.`, categories never `-`, so a prefix cannot
 * match a longer tenant or category.
 */
export const serverFilterOf = (filter: LogFilter = {}): ServerFilter => {
  const { categories, tenantId, eventTypes } = filter;
  if (tenantId !== undefined)
    return categories
      ? { on: 'streamName', prefixes: categories.map((category) => `${category}-${tenantId}.`) }
      : { on: 'streamName', regex: `^(?!\\$)[^-]*-${escapeRegex(tenantId)}\\.` };
  if (eventTypes) return { on: 'eventType', regex: `^(?:${eventTypes.map(escapeRegex).join('|')})$` };
  if (categories) return { on: 'streamName', prefixes: categories.map((category) => `${category}-`) };
  return USER_STREAMS;
};

/** The client's filter object for a {@link ServerFilter}. */
export const toClientFilter = (filter: ServerFilter): Filter => {
  const build = filter.on === 'streamName' ? streamNameFilter : eventTypeFilter;
  return 'prefixes' in filter ? build({ prefixes: [...filter.prefixes] }) : build({ regex: filter.regex });
};

/**
 * The whole LogFilter, in process, on an event's stream name and type: what the server filter left out.
 * System streams and system event types (`$…`) never match. A stream's tenant is read from its name
 * (`{category}-{tenantId}.{id}`), the same rule the server prefixes apply.
 */
export const matchesLogFilter = (filter: LogFilter = {}, streamName: string, type: string): boolean => {
  if (streamName.startsWith('$') || type.startsWith('$')) return false;
  const category = categoryOf(streamName);
  if (filter.categories && !filter.categories.includes(category)) return false;
  if (filter.eventTypes && !filter.eventTypes.includes(type)) return false;
  if (filter.tenantId !== undefined) {
    const dash = streamName.indexOf('-');
    if (dash < 0 || !streamName.startsWith(`${filter.tenantId}.`, dash + 1)) return false;
  }
  return true;
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);

/**
 * The port's recorded event for one the client read. Every event Conflux writes is JSON with JSON
 * metadata; anything else in a user stream was written by someone else and is refused (TypeError), as is
 * an event without a `$all` position (servers before 22.6 send none on stream reads).
 */
export const toRecordedEvent = (event: KurrentRecordedEvent | AllStreamRecordedEvent): RecordedEvent => {
  if (!event.isJson || !isObject(event.metadata))
    throw new TypeError(
      `Event ${event.id} in ${event.streamId} is not JSON with JSON metadata: not written by Conflux`,
    );
  if (!event.position)
    throw new TypeError(`Event ${event.id} in ${event.streamId} has no $all position (KurrentDB < 22.6?)`);
  return {
    id: event.id,
    streamName: event.streamId,
    revision: Number(event.revision),
    type: event.type,
    data: event.data,
    metadata: event.metadata as EventMetadata,
    checkpoint: encodeCheckpoint(event.position),
    createdAt: event.created,
  };
};
