import type pg from 'pg';
import { TenantConnectionsExhausted } from '../../domain/tenant/tenant.errors.js';

type Waiter = { grant: () => void; timer: NodeJS.Timeout };

/**
 * One budget of physical connections shared by every tenant database pool of the process, so that the
 * number of tenants does not decide how many connections Conflux opens (PostgreSQL refuses clients past
 * `max_connections`, and the control plane and event store need theirs). A pool takes a permit before it
 * would open a new connection and gives it back when that connection closes (idle ones close after the
 * pool's `idleTimeoutMillis`). A caller that waits longer than `acquireTimeoutMs` for a permit gets
 * `TenantConnectionsExhausted` (503 with `Retry-After`). FIFO, so no tenant starves.
 */
export class ConnectionBudget {
  private inUse = 0;
  private readonly waiters: Waiter[] = [];
  /** Most permits held at once since start (observability, bench). */
  peak = 0;

  constructor(
    readonly limit: number,
    private readonly acquireTimeoutMs: number,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error('The tenant connection budget must be ≥ 1');
  }

  /** Permits held now: physical tenant connections open (or being opened). */
  get used(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(): Promise<void> {
    if (this.inUse < this.limit && this.waiters.length === 0) {
      this.take(1);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(new TenantConnectionsExhausted(Math.max(1, Math.ceil(this.acquireTimeoutMs / 1000))));
        }, this.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  release(count = 1): void {
    for (let i = 0; i < count; i++) {
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.inUse = Math.max(0, this.inUse - 1);
    }
  }

  /**
   * Puts `pool` under this budget: its `connect()` takes a permit when it would open a connection (no
   * idle one left for it, room in the pool), and the permits it holds are reconciled with the pool's
   * count of connections after every checkout and every closed connection. pg-pool hands out connections
   * asynchronously, so calls in the same tick are counted here (`reusing`, `opening`), not read from the pool.
   */
  govern(pool: pg.Pool, max: number): void {
    let held = 0;
    let reusing = 0;
    let opening = 0;
    /** Opens that hold their permit and have not settled: their connection may not be counted yet. */
    let permitted = 0;
    // pg-pool drops a connection from `totalCount` when it starts closing it (`_remove`: idle timeout,
    // destroy, error) and emits `remove` once it has ended. Until then its backend still counts against
    // max_connections, so it keeps its permit: without this, another caller's reconcile gave the permit to
    // a replacement while the old backend lived (500 tenants: 41 connections for a budget of 40).
    const closing = new Set<unknown>();
    const poolWithRemove = pool as unknown as { _remove?: (client: unknown, callback?: () => void) => void };
    const remove = poolWithRemove._remove?.bind(pool);
    if (remove)
      poolWithRemove._remove = (client, callback) => {
        closing.add(client);
        remove(client, callback);
      };
    const reconcile = () => {
      const open = pool.totalCount + closing.size;
      if (held - permitted > open) {
        this.release(held - permitted - open);
        held = open + permitted;
      } else if (open > held) {
        // Opened without a permit (an idle connection went to another caller meanwhile): count it.
        this.take(open - held);
        held = open;
      }
    };
    pool.on('remove', (client: unknown) => {
      closing.delete(client);
      reconcile();
    });
    const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
    let settled: (() => void)[] = [];
    const openSettled = () => new Promise<void>((resolve) => settled.push(resolve));
    (pool as unknown as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
      let mode: 'reuse' | 'open' | 'queue' = 'queue';
      for (;;) {
        if (pool.idleCount > reusing) {
          mode = 'reuse';
          reusing += 1;
        } else if (pool.totalCount + opening < max) {
          mode = 'open';
          opening += 1;
          try {
            await this.acquire();
          } catch (error) {
            opening -= 1;
            throw error;
          }
          held += 1;
          permitted += 1;
        } else if (opening > 0) {
          // The pool would open one more for us (it counts only connections it has): wait for a sibling's
          // open to settle, then look again.
          await openSettled();
          continue;
        }
        break;
      }
      try {
        const client = await connect();
        // Under pressure a connection this pool no longer needs is closed at once instead of idling:
        // its permit goes to whoever waits (another tenant), not after the idle timeout.
        const release = client.release.bind(client);
        client.release = (destroy?: boolean | Error) =>
          release(destroy ?? (this.waiters.length > 0 && pool.waitingCount === 0 ? true : undefined));
        return client;
      } finally {
        if (mode === 'reuse') reusing -= 1;
        if (mode === 'open') {
          opening -= 1;
          permitted -= 1;
          const waiting = settled;
          settled = [];
          for (const wake of waiting) wake();
        }
        reconcile();
      }
    };
  }

  private take(count: number): void {
    this.inUse += count;
    this.peak = Math.max(this.peak, this.inUse);
  }
}
