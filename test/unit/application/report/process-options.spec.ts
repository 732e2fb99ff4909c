import { backoffDelay } from '../../../../src/application/report/process/process-options.js';
import { lastTwelveMonths } from '../../../../src/application/report/commands/request-report.handler.js';
import { uuidv7 } from '../../../../src/application/shared/uuidv7.js';

const options = { backoffBaseMs: 250, backoffCapMs: 30_000 };

describe('backoff', () => {
  it('doubles per attempt within ±20 % jitter', () => {
    expect(backoffDelay(options, 1, undefined, () => 0.5)).toBe(250);
    expect(backoffDelay(options, 3, undefined, () => 0.5)).toBe(1000);
    expect(backoffDelay(options, 3, undefined, () => 0)).toBe(800);
    expect(backoffDelay(options, 3, undefined, () => 1)).toBe(1200);
  });

  it('is capped', () => {
    expect(backoffDelay(options, 40, undefined, () => 0.5)).toBe(30_000);
  });

  it("never polls sooner than the provider's Retry-After, but a huge Retry-After is capped too", () => {
    expect(backoffDelay(options, 1, 1000, () => 0.5)).toBe(1000);
    expect(backoffDelay(options, 1, 3_600_000, () => 0.5)).toBe(30_000);
  });
});

describe('default period', () => {
  it('is the last 12 months up to today, inclusive', () => {
    expect(lastTwelveMonths(new Date('2026-11-22T15:00:00Z'))).toEqual({
      from: '2025-11-23',
      to: '2026-11-22',
    });
    expect(lastTwelveMonths(new Date('2028-02-29T00:00:00Z'))).toEqual({
      from: '2027-03-02',
      to: '2028-02-29',
    });
  });
});

describe('uuidv7', () => {
  it('is a version-7 UUID ordered by time', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
  });
});
