import type { TenantDirectory, TenantStatus } from '../../../application/ports/tenant-directory.port.js';

export type TenantStatusCacheOptions = Readonly<{
  /** How long an `active` answer is trusted. */
  ttlMs: number;
  /** Beyond this many tenants the cache starts over (a bound on memory, not an eviction policy). */
  maxEntries?: number;
  now?: () => number;
}>;

/**
 * Every authenticated request checks that its tenant is still active; asking the control database each
 * time is one round trip per request for an answer that almost never changes. Only `active` is cached,
 * for `ttlMs`: a tenant that is disabled or removed stops accepting its tokens within that time, and a
 * tenant that becomes active is seen at once (a miss is never cached). Concurrent misses for one tenant
 * share a single lookup.
 */
export class TenantStatusCache {
  private readonly active = new Map<string, number>();
  private readonly pending = new Map<string, Promise<TenantStatus | undefined>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly tenants: TenantDirectory,
    { ttlMs, maxEntries = 10_000, now = Date.now }: TenantStatusCacheOptions,
  ) {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
    this.now = now;
  }

  async status(tenantId: string): Promise<TenantStatus | undefined> {
    const until = this.active.get(tenantId);
    if (until !== undefined && until > this.now()) return 'active';
    const inFlight = this.pending.get(tenantId);
    if (inFlight) return inFlight;
    const lookup = this.lookUp(tenantId).finally(() => this.pending.delete(tenantId));
    this.pending.set(tenantId, lookup);
    return lookup;
  }

  private async lookUp(tenantId: string): Promise<TenantStatus | undefined> {
    const status = (await this.tenants.find(tenantId))?.status;
    if (status === 'active') {
      if (this.active.size >= this.maxEntries) this.active.clear();
      this.active.set(tenantId, this.now() + this.ttlMs);
    } else {
      this.active.delete(tenantId);
    }
    return status;
  }
}
