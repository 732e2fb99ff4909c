import { calendarDay, MAX_PERIOD_DAYS, periodViolations } from '../../../../src/domain/report/period.js';

const TODAY = '2026-11-30';

/** Given today's date, when a period is requested, then these violations (none: accepted). */
const given = (today: string) => ({
  when: (period: { from: string; to: string }) => ({
    then: (expected: ReturnType<typeof periodViolations>) =>
      expect(periodViolations(period, today)).toEqual(expected),
  }),
});

describe('period rule', () => {
  it('accepts a period up to today', () => {
    given(TODAY).when({ from: '2025-12-01', to: TODAY }).then([]);
    given(TODAY).when({ from: TODAY, to: TODAY }).then([]);
  });

  it('refuses a period that ends after today (UTC)', () => {
    given(TODAY)
      .when({ from: '2026-01-01', to: '2026-12-01' })
      .then([{ field: 'to', message: 'must not be after today (2026-11-30, UTC)' }]);
  });

  it('refuses from after to', () => {
    given(TODAY)
      .when({ from: '2026-02-01', to: '2026-01-01' })
      .then([{ field: 'from', message: 'must not be after period.to' }]);
  });

  it(`allows at most ${MAX_PERIOD_DAYS} days, both ends counted`, () => {
    // 2016-11-23 … 2026-11-30, both counted, is exactly 3,660 days.
    given(TODAY).when({ from: '2016-11-23', to: TODAY }).then([]);
    given(TODAY)
      .when({ from: '2016-11-22', to: TODAY })
      .then([{ field: 'from', message: 'the period must span at most 3660 days' }]);
    given(TODAY)
      .when({ from: '1975-01-01', to: '2025-01-01' })
      .then([{ field: 'from', message: 'the period must span at most 3660 days' }]);
  });

  it('refuses dates that are not on the calendar', () => {
    for (const bad of [
      '2025-02-30',
      '2025-02-29',
      '2025-13-01',
      '2025-00-10',
      '0050-01-01',
      '1899-12-31',
      '2025-1-01',
    ])
      given(TODAY)
        .when({ from: bad, to: TODAY })
        .then([{ field: 'from', message: 'must be a calendar date YYYY-MM-DD, 1900 or later' }]);
    given(TODAY)
      .when({ from: '2024-02-29', to: '2024-02-31' })
      .then([{ field: 'to', message: 'must be a calendar date YYYY-MM-DD, 1900 or later' }]);
    given(TODAY).when({ from: '2024-02-29', to: '2024-03-01' }).then([]);
  });

  it('names both fields when both are wrong', () => {
    given(TODAY)
      .when({ from: 'yesterday', to: '9999-12-31' })
      .then([
        { field: 'from', message: 'must be a calendar date YYYY-MM-DD, 1900 or later' },
        { field: 'to', message: 'must not be after today (2026-11-30, UTC)' },
      ]);
  });

  it('counts days across leap years exactly', () => {
    expect(calendarDay('1970-01-01')).toBe(0);
    expect(calendarDay('2000-03-01')! - calendarDay('2000-02-28')!).toBe(2);
    expect(calendarDay('1900-03-01')! - calendarDay('1900-02-28')!).toBe(1);
    expect(calendarDay('1900-01-01')).toBe(-25567);
  });
});
