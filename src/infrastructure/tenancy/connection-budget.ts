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
   * Puts `pool` under this budget: its `connect()` takes a permit when it would open a connection, and
   * the pool's count of connections is reconciled with the permits it holds after every checkout and
   * every closed connection (so a race that reused an idle connection gives its permit back).
   */
  govern(pool: pg.Pool, max: number): void {
    let held = 0;
    const reconcile = () => {
      const open = pool.totalCount;
      if (held > open) {
        this.release(held - open);
        held = open;
      } else if (held < open) {
        // Opened without a permit (an idle connection was taken by another caller meanwhile): count it.
        this.take(open - held);
        held = open;
      }
    };
    pool.on('remove', reconcile);
    const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
    (pool as unknown as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
      if (pool.idleCount === 0 && pool.totalCount < max) {
        await this.acquire();
        held += 1;
      }
      try {
        return await connect();
      } finally {
        reconcile();
      }
    };
  }

  private take(count: number): void {
    this.inUse += count;
    this.peak = Math.max(this.peak, this.inUse);
  }
}
