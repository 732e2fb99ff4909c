import {
  creditBand,
  creditReport,
  formatCents,
  periodProblem,
  taxFilings,
  transactionSource,
} from '../../../../src/infrastructure/provider-simulator/simulator-data.js';
import type { Transaction } from '../../../../src/domain/report/provider-data.js';

const year2024 = { from: '2024-01-01', to: '2024-12-31' };
const rows = (text: string): Transaction[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Transaction);

describe('bank statement generation', () => {
  it('gives the same bytes for the same seed, subject and period, and different bytes otherwise', () => {
    const once = transactionSource(1, 'SUBJ-1', year2024, 3000).lines(0, 3000);
    expect(transactionSource(1, 'SUBJ-1', year2024, 3000).lines(0, 3000)).toBe(once);
    expect(transactionSource(2, 'SUBJ-1', year2024, 3000).lines(0, 3000)).not.toBe(once);
    expect(transactionSource(1, 'SUBJ-2', year2024, 3000).lines(0, 3000)).not.toBe(once);
    expect(transactionSource(1, 'SUBJ-1', { ...year2024, to: '2024-11-30' }, 3000).lines(0, 3000)).not.toBe(
      once,
    );
  });

  it.each([0, 1, 7, 2000, 12_345])('produces exactly %i transactions', (count) => {
    const text = transactionSource(1, 'SUBJ-1', year2024, count).lines(0, count);
    expect(rows(text)).toHaveLength(count);
    expect(text === '' || text.endsWith('\n')).toBe(true);
  });

  it('yields well-formed transactions dated within the period, in date order, with unique ids', () => {
    const list = rows(
      transactionSource(7, 'ABC-123', { from: '2023-03-15', to: '2024-03-14' }, 5000).lines(0, 5000),
    );
    expect(new Set(list.map((t) => t.id)).size).toBe(5000);
    for (const t of list) {
      expect(t).toEqual({
        id: expect.any(String),
        accountId: expect.stringMatching(/^acc-[0-9a-f]{8}$/),
        date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        amount: expect.any(Number),
        currency: 'EUR',
        description: expect.any(String),
        counterparty: expect.any(String),
        category: expect.any(String),
      });
      expect(t.date >= '2023-03-15' && t.date <= '2024-03-14').toBe(true);
      expect(Math.round(t.amount * 100) / 100).toBe(t.amount);
      expect(t.amount).not.toBe(0);
    }
    const dates = list.map((t) => t.date);
    expect(dates).toEqual([...dates].sort());
    expect(dates[0]).toBe('2023-03-15');
    expect(dates.at(-1)! >= '2024-03-01').toBe(true);
  });

  it('looks like a real account: a salary and a rent each month, everyday spending, money in and out', () => {
    const list = rows(transactionSource(1, 'SUBJ-1', year2024, 2000).lines(0, 2000));
    const byCategory = new Map<string, Transaction[]>();
    for (const t of list) byCategory.set(t.category, [...(byCategory.get(t.category) ?? []), t]);
    for (const category of [
      'salary',
      'rent',
      'groceries',
      'restaurants',
      'transport',
      'shopping',
      'utilities',
    ]) {
      expect(byCategory.get(category)?.length).toBeGreaterThan(0);
    }
    expect(byCategory.get('health')?.length).toBeGreaterThan(0);
    expect(byCategory.get('transfers')?.length).toBeGreaterThan(0);
    const salaries = byCategory.get('salary')!;
    expect(salaries).toHaveLength(12);
    expect(new Set(salaries.map((t) => t.date.slice(0, 7))).size).toBe(12);
    expect(salaries.every((t) => t.amount > 0)).toBe(true);
    expect(byCategory.get('rent')!.every((t) => t.amount < 0)).toBe(true);
    expect(byCategory.get('groceries')!.every((t) => t.amount < 0)).toBe(true);
    expect(byCategory.get('transfers')!.some((t) => t.amount > 0)).toBe(true);
    expect(byCategory.get('transfers')!.some((t) => t.amount < 0)).toBe(true);
    expect(new Set(list.map((t) => t.accountId)).size).toBe(2);
  });

  it('pages are byte-identical slices of the whole statement', () => {
    const source = transactionSource(3, 'PAGER', year2024, 10_001);
    const whole = source.lines(0, source.total);
    for (const size of [1, 127, 1000, 4096]) {
      let paged = '';
      for (let offset = 0; offset < source.total; offset += size)
        paged += source.lines(offset, offset + size);
      expect(paged).toBe(whole);
    }
    expect(source.lines(10_001, 20_000)).toBe('');
  });

  it('formats amounts with exactly two decimals', () => {
    expect([formatCents(0), formatCents(5), formatCents(-1230), formatCents(123456)]).toEqual([
      '0.00',
      '0.05',
      '-12.30',
      '1234.56',
    ]);
  });
});

describe('period validation', () => {
  it.each([
    [{ from: '2024-02-30', to: '2024-03-01' }, 'period.from'],
    [{ from: '2024-01-01', to: '2024-13-01' }, 'period.to'],
    [{ from: '2024-05-01', to: '2024-04-30' }, 'period.to'],
    [{ from: '1900-01-01', to: '2024-01-01' }, 'period.to'],
    [{ from: '24-01-01', to: '2024-01-01' }, 'period.from'],
  ])('rejects %j', (period, field) => {
    expect(periodProblem(period)?.field).toBe(field);
  });

  it('accepts a leap day and a single-day period', () => {
    expect(periodProblem({ from: '2024-02-29', to: '2024-02-29' })).toBeUndefined();
  });
});

describe('credit and tax', () => {
  it('gives a stable credit report with a score in range and the matching band', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const report = creditReport(1, `S-${i}`);
      expect(creditReport(1, `S-${i}`)).toEqual(report);
      expect(report.score).toBeGreaterThanOrEqual(300);
      expect(report.score).toBeLessThanOrEqual(850);
      expect(report.band).toBe(creditBand(report.score));
      expect(Math.round(report.totalDebt * 100) / 100).toBe(report.totalDebt);
      seen.add(report.band);
    }
    expect(seen.size).toBeGreaterThanOrEqual(4);
  });

  it('files one return per calendar year the period touches, income in line with the salary', () => {
    const { filings } = taxFilings(1, 'SUBJ-1', { from: '2022-07-01', to: '2024-06-30' });
    expect(filings.map((f) => f.year)).toEqual([2022, 2023, 2024]);
    const salary = rows(transactionSource(1, 'SUBJ-1', year2024, 100).lines(0, 100)).find(
      (t) => t.category === 'salary',
    )!.amount;
    for (const filing of filings) {
      expect(filing.income / (salary * 12)).toBeGreaterThan(0.9);
      expect(filing.income / (salary * 12)).toBeLessThan(1.15);
      expect(filing.taxPaid).toBeGreaterThan(0);
      expect(filing.taxPaid).toBeLessThan(filing.income);
    }
    expect(taxFilings(1, 'SUBJ-1', { from: '2024-01-01', to: '2024-06-30' }).filings[0]).toEqual(filings[2]);
  });
});
