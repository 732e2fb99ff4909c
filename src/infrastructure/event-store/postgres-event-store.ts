import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  HorizonHold,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
} from '../../application/ports/event-store.port.js';
import { migrateSchema } from '../postgres/transaction.js';
import { appendEvents, appendEventsWithin, lockForAppend } from './append.js';
import { HORIZON_HOLD } from './horizon.js';
import { checkLogIdentity } from './log-identity.js';
import { readPage, readStream } from './reads.js';
import { assertCount, decodeCheckpoint, EVENT_STORE_MIGRATION_LOCK, SCHEMA, toRecordedEvent } from './sql.js';
import { ChangeListener } from './change-listener.js';
import { LogTail } from './log-tail.js';
import { subscribePages } from './subscriptions.js';

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
  /**
   * Least time between two notifications of `appendToStream`, in ms: under a stream of appends one wake-up
   * per interval stands for all of them. Default 5.
   */
  notifyIntervalMs?: number;
  /** LISTEN/NOTIFY channel. Default `conflux_events`. */
  channel?: string;
  /**
   * Set on every connection of the pool: a session of this pool left idle in a transaction that took the
   * append lock holds back every reader of the log, so it must not be able to do so for long. Default 60 s; 0 = off.
   */
  idleInTransactionSessionTimeoutMs?: number;
  /** Delay before the LISTEN connection is re-opened after it was lost. Default 1000. */
  listenRetryMs?: number;
  /**
   * Events the shared log tail keeps for subscriptions that fall behind it (log-tail.ts); one further
   * behind reads the log itself until it catches up. Default 10 × `batchSize`.
   */
  tailRetainedEvents?: number;
}>;

export type PostgresEventStoreCreateOptions = PostgresEventStoreOptions &
  Readonly<{
    /** Pool size. Default 10. */
    maxConnections?: number;
    /** Run `migrate()` before returning. Default true. */
    migrate?: boolean;
  }>;

/**
 * The event store on PostgreSQL ≥ 13. Appends are one statement each (append lock, stream revision check
 * and event rows together: append.ts), so they need no explicit transaction; the log is read in commit
 * order with the (transaction_id, position) technique below a horizon only appenders can hold back
 * (horizon.ts, reads.ts); subscriptions catch up with their own reads, then follow the store's one live
 * reader of the log, which polls and wakes on LISTEN/NOTIFY (subscriptions.ts, log-tail.ts). The store owns
 * its pool: `close()` ends it.
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
  private readonly notifyIntervalMs: number;
  private readonly channel: string;
  private readonly listener: ChangeListener;
  private readonly tail: LogTail;
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
    this.notifyIntervalMs = options.notifyIntervalMs ?? 5;
    assertCount(this.notifyIntervalMs, 'notifyIntervalMs');
    this.channel = options.channel ?? 'conflux_events';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel))
      throw new TypeError(`Invalid notification channel ${JSON.stringify(this.channel)}`);
    this.listener = new ChangeListener(pool.options, this.channel, options.listenRetryMs ?? 1000);
    this.tail = new LogTail(pool, this.notify ? this.listener : undefined, {
      batchSize: this.batchSize,
      pollIntervalMs: this.pollIntervalMs,
      retainedEvents: options.tailRetainedEvents ?? 10 * this.batchSize,
      closing: this.closing.signal,
    });
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

  /**
   * Creates the schema if missing and checks that the log's positions belong to this cluster: rejects with
   * EventLogFromAnotherCluster after a restore into another one (log-identity.ts, ADR 0024). Safe to run
   * from several processes at once.
   */
  async migrate(): Promise<void> {
    const { rows } = await this.pool.query<{ server_version_num: string }>('SHOW server_version_num');
    if (Number(rows[0].server_version_num) < 130000)
      throw new Error('The PostgreSQL event store needs PostgreSQL 13 or later (xid8, pg_current_xact_id)');
    await migrateSchema(this.pool, EVENT_STORE_MIGRATION_LOCK, SCHEMA, checkLogIdentity);
  }

  /** Ends every subscription of this store, then the LISTEN connection and the pool. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await this.listener.close();
    await this.pool.end();
  }

  async appendToStream(
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    const result = await appendEvents(this.pool, streamName, events, options.expectedRevision ?? 'any');
    if (this.notify) this.announce();
    return result;
  }

  /**
   * Appends with a client the caller holds, typically inside its own transaction: the events become
   * visible, and subscribers are notified, when the caller commits. The transaction must not have
   * written before (AppendLockTooLateError): call {@link lockForAppend} right after BEGIN when it must.
   * A WrongExpectedVersionError leaves the transaction usable (the append runs under a savepoint).
   */
  async appendWithin(
    client: pg.ClientBase,
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision } = {},
  ): Promise<AppendResult> {
    await lockForAppend(client);
    return appendEventsWithin(
      client,
      streamName,
      events,
      options.expectedRevision ?? 'any',
      this.notify ? this.channel : undefined,
    );
  }

  /**
   * Marks the caller's transaction as one that may append (horizon.ts); call it right after BEGIN in a
   * transaction that writes other rows before `appendWithin`.
   */
  lockForAppend(client: pg.ClientBase): Promise<void> {
    return lockForAppend(client);
  }

  async horizonHold(): Promise<HorizonHold> {
    const { rows } = await this.pool.query<{ appenders: number; held_seconds: number }>(HORIZON_HOLD);
    return { appenders: rows[0].appenders, heldSeconds: rows[0].appenders > 0 ? rows[0].held_seconds : 0 };
  }

  readStream(streamName: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return readStream(this.pool, streamName, options);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    assertCount(options.maxCount, 'maxCount');
    const after = options.after === undefined ? undefined : decodeCheckpoint(options.after);
    const { rows } = await readPage(this.pool, after, options.filter, options.maxCount, false);
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

  subscribeToAllPages(options: SubscribeOptions): AsyncIterable<readonly RecordedEvent[]> {
    const batchSize = options.batchSize ?? this.batchSize;
    assertCount(batchSize, 'batchSize');
    return subscribePages({
      pool: this.pool,
      tail: this.tail,
      after: options.after === undefined ? undefined : decodeCheckpoint(options.after),
      filter: options.filter,
      batchSize,
      pollIntervalMs: this.pollIntervalMs,
      signals: [options.signal, this.closing.signal],
    });
  }

  /**
   * Sends one notification after the commit of every append, but never two at a time nor two within
   * `notifyIntervalMs`: the first append after a quiet spell is announced at once, and appends that commit
   * meanwhile share the next notification.
   */
  private announce(): void {
    if (this.closing.signal.aborted) return;
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    this.notifying = true;
    void Promise.all([
      // A lost wake-up only delays subscribers until their next poll.
      this.pool.query('SELECT pg_notify($1, $2)', [this.channel, '']).catch(() => undefined),
      sleep(this.notifyIntervalMs, undefined, { signal: this.closing.signal }).catch(() => undefined),
    ]).finally(() => {
      this.notifying = false;
      if (this.notifyAgain) {
        this.notifyAgain = false;
        this.announce();
      }
    });
  }
}
