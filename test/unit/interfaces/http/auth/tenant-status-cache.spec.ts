import type {
  Tenant,
  TenantDirectory,
  TenantStatus,
} from '../../../../../src/application/ports/tenant-directory.port.js';
import { TenantStatusCache } from '../../../../../src/interfaces/http/auth/tenant-status-cache.js';

/** A directory whose answers the test sets, counting lookups; `find` can be held open. */
const fakeDirectory = () => {
  const statuses = new Map<string, TenantStatus>();
  let lookups = 0;
  let gate: Promise<void> | undefined;
  const directory: TenantDirectory = {
    async find(id) {
      lookups++;
      await gate;
      const status = statuses.get(id);
      return status
        ? ({ id, name: id, status, selfSignup: false, createdAt: new Date(0) } satisfies Tenant)
        : undefined;
    },
    list: () => Promise.reject(new Error('not used')),
    provision: () => Promise.reject(new Error('not used')),
  };
  return {
    directory,
    statuses,
    lookups: () => lookups,
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
};

describe('TenantStatusCache', () => {
  let clock: number;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('answers an active tenant from memory within the TTL and asks again after it', async () => {
    const fake = fakeDirectory();
    fake.statuses.set('t1', 'active');
    const cache = new TenantStatusCache(fake.directory, { ttlMs: 5_000, now });

    expect(await cache.status('t1')).toBe('active');
    clock += 4_999;
    expect(await cache.status('t1')).toBe('active');
    expect(fake.lookups()).toBe(1);

    clock += 1;
    expect(await cache.status('t1')).toBe('active');
    expect(fake.lookups()).toBe(2);
  });

  it('refuses a disabled tenant at the latest one TTL after the change', async () => {
    const fake = fakeDirectory();
    fake.statuses.set('t1', 'active');
    const cache = new TenantStatusCache(fake.directory, { ttlMs: 5_000, now });
    expect(await cache.status('t1')).toBe('active');

    fake.statuses.set('t1', 'disabled');
    clock += 4_000;
    expect(await cache.status('t1')).toBe('active'); // still trusted: the documented window
    clock += 1_000;
    expect(await cache.status('t1')).toBe('disabled');
    clock += 1;
    expect(await cache.status('t1')).toBe('disabled');
    expect(fake.lookups()).toBe(3); // a refusal is never cached
  });

  it('never caches a tenant that is missing or not active yet, so activation is seen at once', async () => {
    const fake = fakeDirectory();
    const cache = new TenantStatusCache(fake.directory, { ttlMs: 5_000, now });
    expect(await cache.status('t1')).toBeUndefined();
    fake.statuses.set('t1', 'provisioning');
    expect(await cache.status('t1')).toBe('provisioning');
    fake.statuses.set('t1', 'active');
    expect(await cache.status('t1')).toBe('active');
    expect(fake.lookups()).toBe(3);
  });

  it('shares one lookup among concurrent requests of a tenant', async () => {
    const fake = fakeDirectory();
    fake.statuses.set('t1', 'active');
    const cache = new TenantStatusCache(fake.directory, { ttlMs: 5_000, now });
    const release = fake.hold();
    const answers = Promise.all([cache.status('t1'), cache.status('t1'), cache.status('t1')]);
    release();
    expect(await answers).toEqual(['active', 'active', 'active']);
    expect(fake.lookups()).toBe(1);
  });

  it('does not remember a failed lookup', async () => {
    const fake = fakeDirectory();
    fake.statuses.set('t1', 'active');
    let failures = 1;
    const flaky: TenantDirectory = {
      ...fake.directory,
      find: (id) =>
        failures-- > 0 ? Promise.reject(new Error('control database down')) : fake.directory.find(id),
    };
    const cache = new TenantStatusCache(flaky, { ttlMs: 5_000, now });
    await expect(cache.status('t1')).rejects.toThrow('control database down');
    expect(await cache.status('t1')).toBe('active');
  });

  it('keeps memory bounded', async () => {
    const fake = fakeDirectory();
    for (const id of ['a', 'b', 'c']) fake.statuses.set(id, 'active');
    const cache = new TenantStatusCache(fake.directory, { ttlMs: 5_000, maxEntries: 2, now });
    for (const id of ['a', 'b', 'c']) await cache.status(id);
    expect(fake.lookups()).toBe(3);
    await cache.status('c'); // kept
    expect(fake.lookups()).toBe(3);
    await cache.status('a'); // dropped when the third tenant came in
    expect(fake.lookups()).toBe(4);
  });
});
