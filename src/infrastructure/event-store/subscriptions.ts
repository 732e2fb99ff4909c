import pg from 'pg';
import type { LogFilter, RecordedEvent } from '../../application/ports/event-store.port.js';
import { readPage } from './reads.js';
import { toRecordedEvent, type Cursor } from './sql.js';

const LISTENER_APPLICATION_NAME = 'conflux-event-store-listener';

/** Wakes one waiting subscription; a wake-up that arrives while it is busy reading is kept for its next wait. */
export class Wakeup {
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
export class ChangeListener {
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

export type PageSubscription = Readonly<{
  pool: pg.Pool;
  /** Undefined when notifications are off: the subscription polls only. */
  listener: ChangeListener | undefined;
  after: Cursor | undefined;
  filter: LogFilter | undefined;
  batchSize: number;
  pollIntervalMs: number;
  /** The subscriber's signal and the store's closing signal. */
  signals: readonly AbortSignal[];
}>;

/**
 * Catch-up then live pages of the log: reads a page, yields it when not empty, and waits for a wake-up
 * (notification, poll interval or abort) whenever a page came back short.
 */
export async function* subscribePages(options: PageSubscription): AsyncIterable<readonly RecordedEvent[]> {
  const { pool, listener, filter, batchSize, pollIntervalMs, signals } = options;
  let cursor = options.after;
  const ended = (): boolean => signals.some((signal) => signal.aborted);
  if (ended()) return;

  const wakeup = new Wakeup();
  const stop = (): void => wakeup.fire();
  for (const signal of signals) signal.addEventListener('abort', stop);
  let unlisten = (): void => undefined;
  try {
    // Listening before the first read: an append committed in between still wakes this subscription.
    if (listener) unlisten = await listener.add(() => wakeup.fire());
    while (!ended()) {
      wakeup.clear();
      const page = await readPage(pool, cursor, filter, batchSize, true);
      if (page.rows.length > 0) {
        yield page.rows.map(toRecordedEvent);
        if (ended()) return;
      }
      cursor = page.next ?? cursor;
      if (page.rows.length < batchSize && !ended()) await wakeup.wait(pollIntervalMs);
    }
  } finally {
    unlisten();
    for (const signal of signals) signal.removeEventListener('abort', stop);
  }
}
