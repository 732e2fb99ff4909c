import fc from 'fast-check';
import type { Transaction } from '../../../../src/domain/report/provider-data.js';
import {
  addTransaction,
  centsByDecimalText,
  checkCreditReport,
  checkTaxFiling,
  checkTransaction,
  emptySummary,
  finishSummary,
  monthsOf,
  rejectTransaction,
  toCents,
} from '../../../../src/domain/report/report-summary.js';

const tx = (date: string, amount: number, category = 'groceries', currency = 'EUR'): Transaction => ({
  id: `tx-${date}-${amount}`,
  accountId: 'acc-1',
  date,
  amount,
  currency,
  description: 'd',
  counterparty: 'c',
  category,
});

const context = {
  subject: { taxId: 'T-1' },
  period: { from: '2024-01-01', to: '2024-04-30' },
  generatedAt: '2025-01-01T00:00:00.000Z',
  credit: { score: 700, band: 'good' as const, openAccounts: 2, delinquencies: 0, totalDebt: 100 },
  taxFilings: [
    { year: 2024, income: 50_000, taxPaid: 10_000, currency: 'EUR' },
    { year: 2023, income: 48_000, taxPaid: 9_500, currency: 'EUR' },
  ],
};

const summarise = (transactions: Transaction[], ctx = context) =>
  finishSummary(transactions.reduce(addTransaction, emptySummary()), ctx);

describe('report summary', () => {
  it('totals money in, money out (positive) and net', () => {
    const summary = summarise([tx('2024-01-05', 2500), tx('2024-01-06', -40.5), tx('2024-02-01', -9.5)]);
    expect(summary.currency).toBe('EUR');
    expect(summary.totals).toEqual({ count: 3, moneyIn: 2500, moneyOut: 50, net: 2450 });
  });

  it('sums in cents, so many small amounts do not drift', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => tx('2024-01-01', i % 2 ? 0.1 : -0.2));
    const summary = summarise(many);
    // Float addition of 0.1 fifty thousand times gives 5000.000000000xxx; cents give exactly 5000.
    expect(summary.totals).toEqual({ count: 100_000, moneyIn: 5000, moneyOut: 10_000, net: -5000 });
  });

  it('rounds each amount to cents', () => {
    const summary = summarise([tx('2024-01-01', 0.105), tx('2024-01-01', 1.004)]);
    expect(summary.totals.moneyIn).toBe(1.11);
  });

  it('lists every month of the period in order with its in and out, zeros included', () => {
    const summary = summarise([tx('2024-01-31', 100), tx('2024-03-01', -30), tx('2024-03-15', -12.25)]);
    expect(summary.monthly).toEqual([
      { month: '2024-01', in: 100, out: 0 },
      { month: '2024-02', in: 0, out: 0 },
      { month: '2024-03', in: 0, out: 42.25 },
      { month: '2024-04', in: 0, out: 0 },
    ]);
  });

  it('keeps months outside the period that transactions fell in, and unordered input', () => {
    const summary = summarise(
      [tx('2024-02-02', 1), tx('2023-12-31', -1), tx('2024-02-03', 2), tx('2024-01-01', 5)],
      {
        ...context,
        period: { from: '2024-01-01', to: '2024-02-29' },
      },
    );
    expect(summary.monthly).toEqual([
      { month: '2023-12', in: 0, out: 1 },
      { month: '2024-01', in: 5, out: 0 },
      { month: '2024-02', in: 3, out: 0 },
    ]);
  });

  it('ranks spending (money out) by category, largest first; income is not spending', () => {
    const summary = summarise([
      tx('2024-01-01', -10, 'groceries'),
      tx('2024-01-02', -25.5, 'rent'),
      tx('2024-01-03', -20, 'groceries'),
      tx('2024-01-04', 3000, 'salary'),
    ]);
    expect(summary.spendingByCategory).toEqual([
      { category: 'groceries', amount: 30, count: 2 },
      { category: 'rent', amount: 25.5, count: 1 },
    ]);
  });

  it('never adds amounts of another currency to the report currency; it counts them apart', () => {
    const summary = summarise([
      tx('2024-01-01', 10),
      tx('2024-01-02', 99, 'x', 'USD'),
      tx('2024-01-03', -1, 'x', 'USD'),
    ]);
    expect(summary.currency).toBe('EUR');
    expect(summary.totals).toEqual({ count: 1, moneyIn: 10, moneyOut: 0, net: 10 });
    expect(summary.otherCurrencies).toEqual([{ currency: 'USD', count: 2 }]);
  });

  it('carries subject, period, time, credit and tax filings (by year)', () => {
    const summary = summarise([]);
    expect(summary).toMatchObject({
      subject: { taxId: 'T-1' },
      period: context.period,
      generatedAt: context.generatedAt,
      credit: context.credit,
      currency: null,
      totals: { count: 0, moneyIn: 0, moneyOut: 0, net: 0 },
    });
    expect(summary.taxFilings.map((f) => f.year)).toEqual([2023, 2024]);
  });

  it('spans year boundaries when listing months', () =>
    expect(monthsOf({ from: '2023-11-15', to: '2024-02-01' })).toEqual([
      '2023-11',
      '2023-12',
      '2024-01',
      '2024-02',
    ]));
});

describe('provider rows are not trusted', () => {
  const period = { from: '2024-01-01', to: '2024-03-31' };
  const row = (over: Record<string, unknown>) => ({
    id: 'x',
    date: '2024-02-01',
    amount: 1,
    currency: 'EUR',
    ...over,
  });

  it('rounds half away from zero both ways on the decimal text, to integer cents', () => {
    expect(toCents(0.125)).toBe(13);
    expect(toCents(-0.125)).toBe(-13);
    expect(toCents(1.005)).toBe(101);
    expect(toCents(-1.005)).toBe(-101);
    expect(toCents(0.124)).toBe(12);
    expect(toCents(-0.005)).toBe(-1);
    expect(toCents(0.0000001)).toBe(0);
    expect(toCents(-0)).toBe(0);
    expect(toCents(123456789012.34)).toBe(12345678901234);
  });

  it('takes the fast path only where it agrees with the decimal-text rule, whatever the amount', () => {
    const amounts = fc.oneof(
      fc.double({ min: -1e12, max: 1e12, noNaN: true }),
      fc.integer({ min: -1e14, max: 1e14 }).map((cents) => cents / 100),
      fc.integer({ min: -1e9, max: 1e9 }).map((mills) => mills / 1000),
      fc.integer({ min: -1e12, max: 1e12 }).map((n) => n / 1e6),
    );
    fc.assert(
      fc.property(amounts, (amount) => expect(toCents(amount)).toBe(centsByDecimalText(amount))),
      { numRuns: 20_000 },
    );
  });

  it('refuses amounts that are not sane numbers', () => {
    for (const amount of [1e21, -1e21, 1e13, Number.NaN, Infinity]) expect(toCents(amount)).toBeUndefined();
  });

  it('accepts a row inside the period with a sane amount and an ISO 4217 currency', () => {
    expect(checkTransaction(row({}), period)).toEqual({ cents: 100 });
    expect(checkTransaction(row({ date: '2024-01-01' }), period)).toEqual({ cents: 100 });
    expect(checkTransaction(row({ date: '2024-03-31', currency: 'JPY' }), period)).toEqual({ cents: 100 });
  });

  it.each([
    [{ date: '2023-12-31' }, 'outside_period'],
    [{ date: '2024-04-01' }, 'outside_period'],
    [{ date: '2024-02-30' }, 'invalid_date'],
    [{ date: '2024-02-01T10:00:00Z' }, 'invalid_date'],
    [{ date: 20240201 }, 'invalid_date'],
    [{ amount: '1' }, 'invalid_amount'],
    [{ amount: 1e21 }, 'invalid_amount'],
    [{ currency: 'eur' }, 'invalid_currency'],
    [{ currency: 'XYZ' }, 'invalid_currency'],
    [{ currency: undefined }, 'invalid_currency'],
    [{ id: '' }, 'invalid_row'],
  ])('rejects %j as %s', (over, reason) => {
    expect(checkTransaction(row(over), period)).toEqual({ rejected: reason });
  });

  it('rounds 2.675 and -2.675 away from zero too (the float product is 267.49…)', () => {
    expect(toCents(2.675)).toBe(268);
    expect(toCents(-2.675)).toBe(-268);
  });

  describe('credit report and tax filings', () => {
    const credit = { score: 702, band: 'good', openAccounts: 3, delinquencies: 1, totalDebt: 1200.505 };
    const filing = { year: 2024, income: 41000.125, taxPaid: -0.125, currency: 'EUR' };

    it('given a sane credit report, when checked, then it keeps only its fields, the debt in cents', () => {
      expect(checkCreditReport({ ...credit, extra: 'x' })).toEqual({
        credit: { ...credit, totalDebt: 1200.51 },
      });
    });

    it.each([
      { score: 1e21 },
      { score: 299 },
      { score: 700.5 },
      { band: 'GOOD' },
      { openAccounts: -1 },
      { delinquencies: '1' },
      { totalDebt: 1e21 },
      { totalDebt: undefined },
    ])('given a credit report with %j, when checked, then it is rejected', (over) => {
      expect(checkCreditReport({ ...credit, ...over })).toEqual({ rejected: 'invalid_credit_report' });
    });

    it('given a sane tax filing, when checked, then its amounts are rounded half away from zero', () => {
      expect(checkTaxFiling(filing, period)).toEqual({
        filing: { year: 2024, income: 41000.13, taxPaid: -0.13, currency: 'EUR' },
      });
      expect(checkTaxFiling({ ...filing, year: 2023 }, period)).toHaveProperty('filing');
    });

    it.each([
      { year: 2025 },
      { year: '2024' },
      { year: 2024.5 },
      { income: 1e21 },
      { income: '1e2' },
      { taxPaid: undefined },
      { currency: 'eur' },
      { currency: 'QQQ' },
    ])('given a tax filing with %j, when checked, then it is rejected', (over) => {
      expect(checkTaxFiling({ ...filing, ...over }, period)).toEqual({ rejected: 'invalid_tax_filing' });
    });
  });

  it('counts rejected rows by reason in the summary', () => {
    const acc = emptySummary();
    rejectTransaction(acc, 'outside_period');
    rejectTransaction(acc, 'outside_period');
    rejectTransaction(acc, 'invalid_currency');
    expect(finishSummary(acc, context).rejected).toEqual({
      count: 3,
      byReason: { invalid_currency: 1, outside_period: 2 },
    });
  });
});
