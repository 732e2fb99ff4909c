import { setTimeout as wait } from 'node:timers/promises';
import pg from 'pg';
import type { SubscriptionLeadership } from '../../application/ports/subscription-leadership.port.js';

/** Advisory-lock class of subscription leadership (two-key form; objsubid 2 in pg_locks). */
const LEADERSHIP_CLASS = 1131368039;

/** Waits `ms`, or less when `signal` aborts first; never rejects. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  wait(ms, undefined, { signal }).catch(() => undefined);

/**
 * Leadership by session advisory locks, all held on ONE connection of this process (so a thousand tenant
 * projections cost one connection, not a thousand): `pg_try_advisory_lock(class, hashtext(name))`, tried
 * every `retryMs` until won. The locks live exactly as long as the session: when the process dies, the
 * server ends the session and releases them, and another instance wins at its next try. When the
 * connection is lost, every leadership of this process is lost with it (their signals abort) and is
 * contested again on a new connection.
 */
export class PostgresSubscriptionLeadership implements SubscriptionLeadership {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly held = new Map<string, AbortController>();
  private closed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly retryMs = 1000,
  ) {}

  async lead(name: string, signal: AbortSignal): Promise<AbortSignal | undefined> {
    while (!signal.aborted && !this.closed) {
      try {
        const client = await this.connection();
        const { rows } = await client.query<{ won: boolean }>(
          'SELECT pg_try_advisory_lock($1, hashtext($2)) AS won',
          [LEADERSHIP_CLASS, name],
        );
        if (rows[0].won) {
          if (signal.aborted) {
            await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LEADERSHIP_CLASS, name]);
            return undefined;
          }
          const lost = new AbortController();
          this.held.set(name, lost);
          return lost.signal;
        }
      } catch {
        // The connection is gone or the server unreachable: try again after the pause.
      }
      await sleep(this.retryMs, signal);
    }
    return undefined;
  }

  async release(name: string): Promise<void> {
    const lost = this.held.get(name);
    if (!lost) return;
    this.held.delete(name);
    const client = this.client;
    if (!client || lost.signal.aborted) return;
    await client
      .query('SELECT pg_advisory_unlock($1, hashtext($2))', [LEADERSHIP_CLASS, name])
      .catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.loseAll();
    await client?.end().catch(() => undefined);
  }

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ ...this.config, application_name: 'conflux-subscription-leadership' });
      const lost = (): void => {
        if (this.client !== client) return;
        this.client = undefined;
        this.loseAll();
        client.end().catch(() => undefined);
      };
      client.on('error', lost);
      client.on('end', lost);
      try {
        await client.connect();
      } catch (error) {
        client.end().catch(() => undefined);
        throw error;
      }
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private loseAll(): void {
    const held = [...this.held.values()];
    this.held.clear();
    for (const lost of held) lost.abort();
  }
}
