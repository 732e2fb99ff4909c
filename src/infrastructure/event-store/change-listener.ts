import pg from 'pg';

const LISTENER_APPLICATION_NAME = 'conflux-event-store-listener';

/** Wakes the waiting log tail; a wake-up that arrives while it is busy reading is kept for its next wait. */
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
 * One LISTEN connection per store, open only while something listens (the log tail, while it has
 * followers). After a reconnect every listener is woken, since notifications sent while the connection was
 * down are lost.
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
