import { lockedForSeconds, locksAfterFailure } from '../../../../src/domain/user/login-throttle.js';

describe('login throttling policy', () => {
  const key = (attempts: number, msUntilReset: number, limit = 3) => ({ attempts, msUntilReset, limit });

  it('given no key over its limit, when checked, then the login may go on', () => {
    expect(lockedForSeconds([])).toBeUndefined();
    expect(lockedForSeconds([key(0, 0), key(3, 5000)])).toBeUndefined();
  });

  it('given a key over its limit, when checked, then it waits until that key resets, in whole seconds', () => {
    expect(lockedForSeconds([key(4, 1500), key(1, 9000)])).toBe(2);
  });

  it('given both keys locked, when checked, then the longer wait wins', () => {
    expect(lockedForSeconds([key(4, 1500), key(11, 9001, 10)])).toBe(10);
  });

  it('given a lock about to end, when checked, then it still says at least 1 s', () => {
    expect(lockedForSeconds([key(4, 0)])).toBe(1);
    expect(lockedForSeconds([key(4, 3)])).toBe(1);
  });

  it('given the limit-th failure, when it fails, then the key locks — not before', () => {
    expect(locksAfterFailure({ attempts: 2, limit: 3 })).toBe(false);
    expect(locksAfterFailure({ attempts: 3, limit: 3 })).toBe(true);
    expect(locksAfterFailure({ attempts: 1, limit: 1 })).toBe(true);
  });
});
