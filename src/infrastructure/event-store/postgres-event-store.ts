import { randomUUID } from 'node:crypto';
import pg from 'pg';
import {
  categoryOf,
  WrongExpectedVersionError,
  type AppendResult,
  type Checkpoint,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type LogFilter,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../../application/ports/event-store.port.js';
import { migrateSchema } from '../postgres/transaction.js';

export type PostgresEventStoreOptions = Readonly<{
  /**
   * Poll of idle subscriptions, the fallback for notifications lost across a LISTEN reconnect and for
   * events held back by another transaction that was still open when they were notified. Default 500.
   */
  pollIntervalMs?: number;
  /** Page size of subscription reads when the subscriber gives none. Default 500. */
  batchSize?: number;
  /** `pg_notify` after appends (coalesced) so subscribers in every process wake at once. Default true. */
  notify?: boolean;
  /** LISTEN/NOTIFY channel. Default `conflux_events`. */
  channel?: string;
  /**
   * Set on every connection of the pool: a session left idle in a transaction holds back every reader of
   * the log (the snapshot xmin is cluster-wide), so it must not be able to do so for long. Default 60 s; 0 = off.
   */
  idleInTransactionSessionTimeoutMs?: number;
  /** Delay before the LISTEN connection is re-opened after it was lost. Default 1000. */
  listenRetryMs?: number;
}>;

export type PostgresEventStoreCreateOptions = PostgresEventStoreOptions &
  Readonly<{
    /** Pool size. Default 10. */
    maxConnections?: number;
    /** Run `migrate()` before returning. Default true. */
    migrate?: boolean;
  }>;

type Nullable<T> = { [K in keyof T]: T[K] | null };

type Cursor = Readonly<{ tx: string; pos: string }>;

type EventRow = {
  tx: string;
  pos: string;
  stream_name: string;
  revision: string;
  id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  created_at: Date;
};

const LISTENER_APPLICATION_NAME = 'conflux-event-store-listener';
const STREAM_REVISION_CONSTRAINT = 'events_stream_name_revision_key';
const STREAM_NAME_CONSTRAINT = 'streams_pkey';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  stream_name text PRIMARY KEY,
  revision bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  position bigserial PRIMARY KEY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream_name text NOT NULL,
  revision bigint NOT NULL,
  id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  tenant_id text,
  category text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ${STREAM_REVISION_CONSTRAINT} UNIQUE (stream_name, revision)
);
CREATE INDEX IF NOT EXISTS events_transaction_id_position_idx ON events (transaction_id, position);
`;

const EVENT_COLUMNS = `transaction_id::text AS tx, position::text AS pos, stream_name, revision::text AS revision,
  id::text AS id, type, data, metadata, created_at`;

/**
 * Only transactions below the snapshot's xmin are certainly finished, so nothing can still commit before
 * the events returned: a bigserial alone commits out of order and a `position > last` reader skips events.
 */
const VISIBLE = 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())';

const encodeCheckpoint = (cursor: Cursor): Checkpoint => `${cursor.tx}:${cursor.pos}` as Checkpoint;

const decodeCheckpoint = (checkpoint: Checkpoint): Cursor => {
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(checkpoint);
  if (!match) throw new TypeError(`Not a PostgreSQL event store checkpoint: ${JSON.stringify(checkpoint)}`);
  return { tx: match[1], pos: match[2] };
};

const toRecordedEvent = (row: EventRow): RecordedEvent => ({
  id: row.id,
  streamName: row.stream_name,
  revision: Number(row.revision),
  type: row.type,
  data: row.data,
  metadata: row.metadata,
  checkpoint: encodeCheckpoint({ tx: row.tx, pos: row.pos }),
  createdAt: row.created_at,
});

const assertCount = (value: number | undefined, name: string): void => {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0))
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
};

/** Builds positional parameters next to the SQL that uses them, so optional clauses stay in step. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

const filterClauses = (filter: LogFilter | undefined, params: Params): string[] => {
  const clauses: string[] = [];
  if (filter?.categories) clauses.push(`category = ANY(${params.add(filter.categories, 'text[]')})`);
  if (filter?.tenantId !== undefined) clauses.push(`tenant_id = ${params.add(filter.tenantId, 'text')}`);
  if (filter?.eventTypes) clauses.push(`type = ANY(${params.add(filter.eventTypes, 'text[]')})`);
  return clauses;
};

// Inline parameters per event are cheaper to plan and parse than one JSON document, but a statement has at
// most 65535 parameters, so larger batches travel as a single jsonb array.
const MAX_INLINE_EVENTS = 100;

/** A FROM item `e(id, type, data, metadata, ord)` with the events to append, in order. */
const eventRows = (events: readonly NewEvent[], params: Params): string => {
  const rows = events.map((event) => ({
    id: event.id ?? randomUUID(),
    type: event.type,
    data: event.data ?? null,
    metadata: event.metadata,
  }));
  if (rows.length > MAX_INLINE_EVENTS)
    return `ROWS FROM (jsonb_to_recordset(${params.add(JSON.stringify(rows), 'jsonb')})
              AS (id uuid, type text, data jsonb, metadata jsonb)) WITH ORDINALITY AS e(id, type, data, metadata, ord)`;
  const values = rows.map(
    (row, i) =>
      `(${params.add(row.id, 'uuid')}, ${params.add(row.type, 'text')}, ${params.add(JSON.stringify(row.data), 'jsonb')}, ${params.add(JSON.stringify(row.metadata), 'jsonb')}, ${i + 1})`,
  );
  return `(VALUES ${values.join(', ')}) AS e(id, type, data, metadata, ord)`;
};

const isUniqueViolation = (error: unknown, constraints: readonly string[]): boolean =>
  error instanceof pg.DatabaseError &&
  error.code === '23505' &&
  error.constraint !== undefined &&
  constraints.includes(error.constraint);

/** Wakes one waiting subscription; a wake-up that arrives while it is busy reading is kept for its next wait. */
class Wakeup {
  private pending = false;
  private release: (() => void) | undefined;

  fire(): void {
    if (this.release) this.release();
    else this.pending = true;
  }

  clear(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.release = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.release = done;
    });
  }
}

/**
 * One LISTEN connection per store, shared by its subscriptions, open only while there are some. After a
 * reconnect every subscription is woken, since notifications sent while the connection was down are lost.
 */
class ChangeListener {
  private readonly wakers = new Set<() => void>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly retryMs: number,
  ) {}

  /** Resolves once LISTEN is active (or has failed and a retry is scheduled). Returns the unsubscribe. */
  async add(wake: () => void): Promise<() => void> {
    this.wakers.add(wake);
    await this.ensureConnected();
    return () => {
      this.wakers.delete(wake);
      if (this.wakers.size === 0) this.disconnect();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting;
    this.disconnect();
  }

  private ensureConnected(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...this.config, application_name: LISTENER_APPLICATION_NAME });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', () => this.wakeAll());
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch {
      // Subscriptions keep polling meanwhile; their reads report a database that is really gone.
      client.end().catch(() => undefined);
      this.scheduleRetry();
      return;
    }
    if (this.closed || this.wakers.size === 0) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.wakeAll();
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.wakers.size === 0 || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.ensureConnected();
    }, this.retryMs);
  }

  private disconnect(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => undefined);
  }

  private wakeAll(): void {
    for (const wake of this.wakers) wake();
  }
}

/**
 * The event store on PostgreSQL ≥ 13. Appends are one statement each (stream revision check and event
 * rows together), so they need no explicit transaction; the log is read in commit order with the
 * (transaction_id, position) technique. The store owns its pool: `close()` ends it.
 *
 * Notifications are only wake-ups (subscribers poll as well), so `appendToStream` sends them after its
 * commit, coalesced, rather than inside the append: a transaction that has called NOTIFY holds a
 * cluster-wide lock through its commit's WAL flush, which serialised concurrent appends (a third of the
 * throughput with 16 writers). `appendWithin` cannot see its caller's commit, so it notifies inside it.
 */
export class PostgresEventStore implements EventStore {
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly notify: boolean;
  private readonly channel: string;
  private readonly listener: ChangeListener;
  private readonly closing = new AbortController();
  private notifying = false;
  private notifyAgain = false;

  /** Takes over `pool`: connections it opens from now on get the session settings, and `close()` ends it. */
  constructor(
    private readonly pool: pg.Pool,
    options: PostgresEventStoreOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.batchSize = options.batchSize ?? 500;
    this.notify = options.notify ?? true;
    this.channel = options.channel ?? 'conflux_events';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel))
      throw new TypeError(`Invalid notification channel ${JSON.stringify(this.channel)}`);
    this.listener = new ChangeListener(pool.options, this.channel, options.listenRetryMs ?? 1000);
    const idleTimeout = options.idleInTransactionSessionTimeoutMs ?? 60_000;
    assertCount(idleTimeout, 'idleInTransactionSessionTimeoutMs');
    // A startup parameter of every connection the pool opens from now on: no extra round trip, no query
    // racing the first one on a new client.
    pool.options.options = [pool.options.options, `-c idle_in_transaction_session_timeout=${idleTimeout}`]
      .filter(Boolean)
      .join(' ');
  }

  /** A store with its own pool on `url`, migrated unless `migrate: false`. */
  static async create(
    url: string,
    options: PostgresEventStoreCreateOptions = {},
  ): Promise<PostgresEventStore> {
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
    // An idle pooled connection that the server drops must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const store = new PostgresEventStore(pool, options);
    if (options.migrate ?? true) {
      try {
        await store.migrate();
      } catch (error) {
        await store.close();
        throw error;
      }
    }
    return store;
  }

  /** Creates the schema if missing. Safe to run from several processes at once. */
  async migrate(): Promise<void> {
    const { rows } = await this.pool.query<{ server_version_num: string }>('SHOW server_version_num');
    if (Number(rows[0].server_version_num) < 130000)
      throw new Error('The PostgreSQL event store needs PostgreSQL 13 or later (xid8, pg_current_xact_id)');
    await migrateSchema(this.pool, 'conflux.event_store', SCHEMA);
  }

  /** Ends every subscription of this store, then the LISTEN connection and the pool. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await this.listener.close();
    await this.pool.end();
  }

  appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    return this.append(this.pool, streamName, events, options.expectedRevision ?? 'any', false);
  }

  /**
   * Appends with a client the caller holds, typically inside its own transaction: the events become
   * visible, and subscribers are notified, when the caller commits.
   */
  appendWithin(
    client: pg.ClientBase,
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    return this.append(client, streamName, events, options.expectedRevision ?? 'any', true);
  }

  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    assertCount(options.fromRevision, 'fromRevision');
    assertCount(options.maxCount, 'maxCount');
    const backwards = options.direction === 'backwards';
    const params = new Params();
    const where = [`stream_name = ${params.add(streamName, 'text')}`];
    if (options.fromRevision !== undefined)
      where.push(`revision ${backwards ? '<=' : '>='} ${params.add(options.fromRevision, 'bigint')}`);
    const limit = options.maxCount === undefined ? '' : `LIMIT ${params.add(options.maxCount, 'bigint')}`;
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')}
       ORDER BY events.revision ${backwards ? 'DESC' : 'ASC'} ${limit}`,
      params.values,
    );
    return rows.map(toRecordedEvent);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    assertCount(options.maxCount, 'maxCount');
    const after = options.after === undefined ? undefined : decodeCheckpoint(options.after);
    const { rows } = await this.readPage(after, options.filter, options.maxCount, false);
    return rows.map(toRecordedEvent);
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

  async *subscribeToAllPages(options: SubscribeOptions): AsyncIterable<readonly RecordedEvent[]> {
    const { signal, filter } = options;
    const batchSize = options.batchSize ?? this.batchSize;
    assertCount(batchSize, 'batchSize');
    let cursor = options.after === undefined ? undefined : decodeCheckpoint(options.after);
    const ended = (): boolean => signal.aborted || this.closing.signal.aborted;
    if (ended()) return;

    const wakeup = new Wakeup();
    const stop = (): void => wakeup.fire();
    signal.addEventListener('abort', stop);
    this.closing.signal.addEventListener('abort', stop);
    let unlisten = (): void => undefined;
    try {
      // Listening before the first read: an append committed in between still wakes this subscription.
      if (this.notify) unlisten = await this.listener.add(() => wakeup.fire());
      while (!ended()) {
        wakeup.clear();
        const page = await this.readPage(cursor, filter, batchSize, true);
        if (page.rows.length > 0) {
          yield page.rows.map(toRecordedEvent);
          if (ended()) return;
        }
        cursor = page.next ?? cursor;
        if (page.rows.length < batchSize && !ended()) await wakeup.wait(this.pollIntervalMs);
      }
    } finally {
      unlisten();
      signal.removeEventListener('abort', stop);
      this.closing.signal.removeEventListener('abort', stop);
    }
  }

  private async append(
    db: pg.Pool | pg.ClientBase,
    streamName: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
    notifyOnCommit: boolean,
  ): Promise<AppendResult> {
    if (events.length === 0) throw new RangeError(`Append to ${streamName}: no events`);
    if (typeof expected === 'number') assertCount(expected, 'expectedRevision');
    const params = new Params();
    const stream = params.add(streamName, 'text');
    const count = params.add(events.length, 'bigint');
    const claim = this.claimRevisions(expected, stream, count, params);
    const notify =
      this.notify && notifyOnCommit ? `, (SELECT pg_notify('${this.channel}', '')) AS notified` : '';
    const sql = `
      WITH stream AS (${claim}),
      appended AS (
        INSERT INTO events (stream_name, revision, id, type, data, metadata, tenant_id, category)
        SELECT ${stream}, stream.revision - ${count} + e.ord, e.id, e.type, COALESCE(e.data, 'null'), e.metadata,
               e.metadata->>'tenantId', ${params.add(categoryOf(streamName), 'text')}
        FROM stream, ${eventRows(events, params)}
        ORDER BY e.ord
        RETURNING transaction_id, position, revision
      )
      SELECT transaction_id::text AS tx, position::text AS pos, revision::text AS revision${notify}
      FROM appended ORDER BY appended.revision DESC LIMIT 1`;
    let rows: { tx: string; pos: string; revision: string }[];
    try {
      ({ rows } = await db.query<{ tx: string; pos: string; revision: string }>(sql, params.values));
    } catch (error) {
      // The streams table makes this unreachable unless rows were written around it; a loser all the same.
      if (isUniqueViolation(error, [STREAM_REVISION_CONSTRAINT, STREAM_NAME_CONSTRAINT]))
        throw new WrongExpectedVersionError(
          streamName,
          expected,
          await this.currentRevision(this.pool, streamName),
        );
      throw error;
    }
    const last = rows[0];
    if (!last)
      throw new WrongExpectedVersionError(streamName, expected, await this.currentRevision(db, streamName));
    if (this.notify && !notifyOnCommit) this.announce();
    return { nextExpectedRevision: Number(last.revision), checkpoint: encodeCheckpoint(last) };
  }

  /**
   * Sends one notification after the commit of every append, but never more than one at a time: appends
   * that commit while one is in flight share the next.
   */
  private announce(): void {
    if (this.closing.signal.aborted) return;
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    this.notifying = true;
    void this.pool
      .query('SELECT pg_notify($1, $2)', [this.channel, ''])
      // A lost wake-up only delays subscribers until their next poll.
      .catch(() => undefined)
      .finally(() => {
        this.notifying = false;
        if (this.notifyAgain) {
          this.notifyAgain = false;
          this.announce();
        }
      });
  }

  /**
   * The statement that moves the stream's revision on by `count` and returns the new one, or returns no
   * row when the expectation fails. Row locks serialise concurrent appenders: a waiting UPDATE re-checks
   * its WHERE against the winner's row, and a waiting INSERT … ON CONFLICT sees the winner's insert.
   */
  private claimRevisions(expected: ExpectedRevision, stream: string, count: string, params: Params): string {
    switch (expected) {
      case 'any':
        return `INSERT INTO streams AS s (stream_name, revision) VALUES (${stream}, ${count} - 1)
                ON CONFLICT (stream_name) DO UPDATE SET revision = s.revision + ${count} RETURNING revision`;
      case 'no_stream':
        return `INSERT INTO streams (stream_name, revision) VALUES (${stream}, ${count} - 1)
                ON CONFLICT (stream_name) DO NOTHING RETURNING revision`;
      case 'stream_exists':
        return `UPDATE streams SET revision = revision + ${count} WHERE stream_name = ${stream} RETURNING revision`;
      default:
        return `UPDATE streams SET revision = revision + ${count}
                WHERE stream_name = ${stream} AND revision = ${params.add(expected, 'bigint')} RETURNING revision`;
    }
  }

  private async currentRevision(
    db: pg.Pool | pg.ClientBase,
    streamName: string,
  ): Promise<number | 'no_stream'> {
    const { rows } = await db.query<{ revision: string }>(
      'SELECT revision::text FROM streams WHERE stream_name = $1',
      [streamName],
    );
    return rows[0] ? Number(rows[0].revision) : 'no_stream';
  }

  /**
   * One page of the log after `after`. With `trackHorizon`, a short page also reports how far the log is
   * final (the last visible event, matching or not), so a filtered subscription moves past events it does
   * not want instead of scanning them again on every wake-up. One statement, so both share one snapshot.
   */
  private async readPage(
    after: Cursor | undefined,
    filter: LogFilter | undefined,
    limit: number | undefined,
    trackHorizon: boolean,
  ): Promise<{ rows: EventRow[]; next: Cursor | undefined }> {
    const params = new Params();
    const matching = filterClauses(filter, params);
    const scanned = [VISIBLE];
    if (after)
      scanned.push(
        `(transaction_id, position) > (${params.add(after.tx, 'xid8')}, ${params.add(after.pos, 'bigint')})`,
      );
    const page = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${[...scanned, ...matching].join(' AND ')}
      ORDER BY transaction_id, position ${limit === undefined ? '' : `LIMIT ${params.add(limit, 'bigint')}`}`;
    if (!trackHorizon || matching.length === 0) {
      const { rows } = await this.pool.query<EventRow>(page, params.values);
      const last = rows.at(-1);
      return { rows, next: last ? { tx: last.tx, pos: last.pos } : after };
    }
    const { rows } = await this.pool.query<Nullable<EventRow> & { horizon_tx: string; horizon_pos: string }>(
      `SELECT h.horizon_tx, h.horizon_pos, p.*
       FROM (SELECT transaction_id::text AS horizon_tx, position::text AS horizon_pos FROM events
             WHERE ${scanned.join(' AND ')} ORDER BY transaction_id DESC, position DESC LIMIT 1) h
       LEFT JOIN LATERAL (${page}) p ON true
       ORDER BY p.tx::xid8, p.pos::bigint`,
      params.values,
    );
    const horizon = rows[0];
    if (!horizon) return { rows: [], next: after };
    const events = rows.filter((row): row is typeof row & EventRow => row.tx !== null);
    const last = events.at(-1);
    if (last && limit !== undefined && events.length >= limit)
      return { rows: events, next: { tx: last.tx, pos: last.pos } };
    return { rows: events, next: { tx: horizon.horizon_tx, pos: horizon.horizon_pos } };
  }
}
