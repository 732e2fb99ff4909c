import { expiresWithinTtl } from '../../../../src/interfaces/http/auth/jwt.strategy.js';

describe('access token lifetime check', () => {
  const now = Date.UTC(2026, 0, 1);
  const nowSeconds = now / 1000;

  it('given a token expiring within JWT_TTL_SECONDS, when checked, then it is accepted', () => {
    expect(expiresWithinTtl(nowSeconds + 3600, 3600, now)).toBe(true);
    expect(expiresWithinTtl(nowSeconds + 1, 3600, now)).toBe(true);
  });

  it('given an exp a little beyond (clock skew between instances), when checked, then it is accepted', () => {
    expect(expiresWithinTtl(nowSeconds + 3600 + 60, 3600, now)).toBe(true);
  });

  it('given an exp far beyond the lifetime this service issues, when checked, then it is refused', () => {
    expect(expiresWithinTtl(nowSeconds + 3600 + 61, 3600, now)).toBe(false);
    expect(expiresWithinTtl(nowSeconds + 10 * 365 * 86_400, 3600, now)).toBe(false);
  });
});
