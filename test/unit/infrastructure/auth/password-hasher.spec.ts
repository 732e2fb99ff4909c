import { ScryptPasswordHasher } from '../../../../src/infrastructure/auth/password-hasher.js';

describe('ScryptPasswordHasher', () => {
  // Cheap parameters keep the suite fast; one test below uses the production defaults.
  const hasher = new ScryptPasswordHasher({ logN: 10, r: 8, p: 1 });

  it('verifies the right password and rejects a wrong one', async () => {
    const encoded = await hasher.hash('correct horse battery');
    await expect(hasher.verify('correct horse battery', encoded)).resolves.toBe(true);
    await expect(hasher.verify('correct horse batterY', encoded)).resolves.toBe(false);
    await expect(hasher.verify('', encoded)).resolves.toBe(false);
  });

  it('salts every hash and never contains the password', async () => {
    const a = await hasher.hash('same password');
    const b = await hasher.hash('same password');
    expect(a).not.toBe(b);
    expect(a).not.toContain('same password');
  });

  it('encodes algorithm and parameters with the hash, so they can change later', async () => {
    const encoded = await hasher.hash('some password');
    expect(encoded).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    // A hasher with other defaults still verifies it: the parameters come from the string.
    await expect(new ScryptPasswordHasher().verify('some password', encoded)).resolves.toBe(true);
  });

  it('uses N=2^15 by default', async () => {
    const encoded = await new ScryptPasswordHasher().hash('default parameters');
    expect(encoded.startsWith('$scrypt$ln=15,r=8,p=1$')).toBe(true);
    await expect(new ScryptPasswordHasher().verify('default parameters', encoded)).resolves.toBe(true);
  });

  it('answers false for an unknown user (no hash) and for a malformed hash', async () => {
    await expect(hasher.verify('whatever', undefined)).resolves.toBe(false);
    await expect(hasher.verify('whatever', 'plain-text-password')).resolves.toBe(false);
    await expect(hasher.verify('whatever', '$scrypt$ln=10,r=8,p=1$c2FsdA$')).resolves.toBe(false);
  });
});

describe('ScryptPasswordHasher under a flood (issue 6, item 7)', () => {
  const isBusy = (result: PromiseSettledResult<unknown>) =>
    result.status === 'rejected' && (result.reason as { code?: string }).code === 'authentication_busy';

  it('queues at most maxQueued computations and refuses the rest at once — unknown users alike', async () => {
    const hasher = new ScryptPasswordHasher(
      { logN: 10, r: 8, p: 1 },
      {
        concurrency: 2,
        maxQueued: 4,
        maxWaitMs: 600_000,
      },
    );
    const encoded = await hasher.hash('the right password');
    // The unknown-user hash is made on first use; made now, every call of the burst below reaches the queue
    // in the same turn of the event loop, before any computation can finish and free a place.
    await hasher.verify('warm-up', undefined);
    // A burst: wrong passwords for a known user, and unknown users (no hash).
    const burst = Array.from({ length: 20 }, (_, i) =>
      i % 2 ? hasher.verify(`wrong ${i}`, encoded) : hasher.verify(`guess ${i}`, undefined),
    );
    const results = await Promise.allSettled(burst);
    const busy = results.filter(isBusy).length;
    const checked = results.filter((r) => r.status === 'fulfilled');
    expect(checked.length).toBeGreaterThan(0);
    expect(checked.length).toBeLessThanOrEqual(4 + 2);
    expect(busy).toBe(20 - checked.length);
    for (const r of checked) expect(r).toEqual({ status: 'fulfilled', value: false });
    // Once the flood has drained, checks work again.
    await expect(hasher.verify('the right password', encoded)).resolves.toBe(true);
    await expect(hasher.verify('nobody', undefined)).resolves.toBe(false);
  });

  it('drops a computation that waited longer than maxWaitMs instead of running it late', async () => {
    const hasher = new ScryptPasswordHasher(
      { logN: 14, r: 8, p: 1 },
      { concurrency: 1, maxQueued: 100, maxWaitMs: 1 },
    );
    const encoded = await hasher.hash('pw');
    // The first runs at once; the others wait behind a hash of ~10–400 ms, far beyond 1 ms.
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((i) => hasher.verify(i === 1 ? 'pw' : 'no', encoded)),
    );
    expect(results[0]).toEqual({ status: 'fulfilled', value: true });
    expect(results.slice(1).every(isBusy)).toBe(true);
  });
});
