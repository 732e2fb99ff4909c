import { buffer } from 'node:stream/consumers';
import type { Transaction } from '../../../../src/domain/report/provider-data.js';
import {
  addTransaction,
  emptySummary,
  finishSummary,
  type ReportSummary,
} from '../../../../src/domain/report/report-summary.js';
import { PdfSummaryRenderer } from '../../../../src/infrastructure/report-documents/pdf-summary-renderer.js';
import { maskTaxId } from '../../../../src/infrastructure/report-documents/summary-format.js';
import { readPdf } from '../../../support/pdf-inspect.js';

const TAX_ID = 'DE123456789';

/** A year of one salary, rent and two grocery runs a month: in 36,000.00, out 20,418.00, 48 rows. */
const yearOfTransactions = (): Transaction[] =>
  Array.from({ length: 12 }, (_, index) => {
    const month = `2025-${String(index + 1).padStart(2, '0')}`;
    const tx = (id: string, day: string, amount: number, category: string): Transaction => ({
      id: `${month}-${id}`,
      accountId: 'acc-1',
      date: `${month}-${day}`,
      amount,
      currency: 'EUR',
      description: id,
      counterparty: 'someone',
      category,
    });
    return [
      tx('salary', '01', 3000, 'salary'),
      tx('rent', '02', -1200, 'rent'),
      tx('market', '10', -250.75, 'Café & Crème – Ærø'),
      tx('market-2', '20', -250.75, 'Café & Crème – Ærø'),
    ];
  }).flat();

const summaryOf = (transactions: Transaction[], overrides: Partial<ReportSummary> = {}): ReportSummary => {
  const acc = emptySummary();
  for (const tx of transactions) addTransaction(acc, tx);
  return {
    ...finishSummary(acc, {
      subject: { taxId: TAX_ID },
      period: { from: '2025-01-01', to: '2025-12-31' },
      generatedAt: '2026-01-05T09:30:00.000Z',
      credit: { score: 712, band: 'good', openAccounts: 3, delinquencies: 1, totalDebt: 1200.5 },
      taxFilings: [
        { year: 2023, income: 39000, taxPaid: 7800, currency: 'EUR' },
        { year: 2024, income: 41000, taxPaid: 8200.5, currency: 'EUR' },
      ],
    }),
    ...overrides,
  };
};

const renderer = new PdfSummaryRenderer();
const render = async (summary: ReportSummary) => buffer(renderer.render(summary));

/** Painted rectangles (`x y w h re` then a fill) in a content stream: the bars of the charts. */
const filledRectangles = (content: string) =>
  content.match(/ re\n(?:\/DeviceRGB cs\n[\d. ]+ scn\n)?f\n/g)?.length ?? 0;
/** Straight stroked segments (`m`, `l`, `S`): gridlines and axes. */
const strokedLines = (content: string) => content.match(/ m\n[\d. ]+ l\n(?:[^\n]*\n){0,6}?S\n/g)?.length ?? 0;

describe('PdfSummaryRenderer', () => {
  it('renders a PDF of one to three A4 pages, named summary.pdf, as application/pdf', async () => {
    const pdf = await render(summaryOf(yearOfTransactions()));
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.subarray(-6).toString('latin1')).toContain('%%EOF');
    const { pages } = readPdf(pdf);
    expect(pages.length).toBeGreaterThanOrEqual(1);
    expect(pages.length).toBeLessThanOrEqual(3);
    expect(renderer).toMatchObject({ fileName: 'summary.pdf', contentType: 'application/pdf' });
  });

  it('prints the masked subject, the period and the totals on page 1, credit and tax filings after', async () => {
    const { pages } = readPdf(await render(summaryOf(yearOfTransactions())));
    const [first, ...rest] = pages.map((page) => page.text);
    expect(first).toContain('Tax ID ••••6789');
    expect(first).toContain('1 Jan 2025 – 31 Dec 2025');
    expect(first).toContain('EUR 36,000.00'); // money in
    expect(first).toContain('EUR 20,418.00'); // money out
    expect(first).toContain('EUR 15,582.00'); // net
    expect(first).toMatch(/^48$/m); // transactions
    expect(first).toContain('Café & Crème – Ærø');
    const after = rest.join('\n');
    expect(after).toContain('712'); // credit score
    expect(after).toContain('EUR 8,200.50'); // tax paid 2024
    expect(after).toContain('Dec 2025');
  });

  it('never prints the tax ID in full', async () => {
    const pdf = await render(summaryOf(yearOfTransactions()));
    const { pages, info } = readPdf(pdf);
    for (const page of pages) expect(page.text).not.toContain(TAX_ID);
    expect(JSON.stringify(info)).not.toContain(TAX_ID);
    expect(pdf.toString('latin1')).not.toContain(TAX_ID);
    expect(maskTaxId(TAX_ID)).toBe('••••6789');
    expect(maskTaxId('AB12')).toBe('••••12');
    expect(maskTaxId('7')).toBe('••••');
  });

  it('draws both charts on page 1 as vector paths: a bar per month and direction, a bar per category', async () => {
    const summary = summaryOf(yearOfTransactions());
    const [first] = readPdf(await render(summary)).pages;
    // 24 month bars, 2 categories × (track + bar), 4 key-figure accents, the header band.
    expect(filledRectangles(first.content)).toBeGreaterThanOrEqual(2 * summary.monthly.length + 2 * 2);
    expect(strokedLines(first.content)).toBeGreaterThanOrEqual(5); // the gridlines, the zero axis, the header rule
    expect(first.content).not.toContain('/XObject'); // no raster images
    expect(first.text).toContain('Money in and out per month');
    expect(first.text).toContain('Spending by category');
  });

  it('gives the same bytes for the same summary, dated by generatedAt', async () => {
    const summary = summaryOf(yearOfTransactions());
    const [a, b] = await Promise.all([render(summary), render(summary)]);
    expect(a.equals(b)).toBe(true);
    expect(readPdf(a).info).toMatchObject({ CreationDate: 'D:20260105093000Z', Title: 'Financial summary' });
  });

  it('stays within three pages for ten years, hundreds of categories and untrusted provider values', async () => {
    const monthly = Array.from({ length: 121 }, (_, i) => ({
      month: `${2016 + Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')}`,
      in: 1e9 + i,
      out: 9e8 + i,
    }));
    const summary = summaryOf([], {
      period: { from: '2016-01-01', to: '2026-01-31' },
      currency: 'EUR',
      totals: { count: 5_000_000, moneyIn: 1.21e11, moneyOut: 1.09e11, net: 1.2e10 },
      monthly,
      spendingByCategory: Array.from({ length: 400 }, (_, i) => ({
        category: i === 0 ? `a\nvery long\tcategory ${'x'.repeat(500)}` : `category ${i}`,
        amount: 1e9 / (i + 1),
        count: 1000 - i,
      })),
      otherCurrencies: Array.from({ length: 40 }, (_, i) => ({ currency: `C${i}`, count: i + 1 })),
      rejected: { count: 3, byReason: { invalid_date: 1, outside_period: 2 } },
      credit: { score: 'n/a', band: null } as unknown as ReportSummary['credit'],
      taxFilings: Array.from({ length: 50 }, (_, i) => ({
        year: 1980 + i,
        income: 1000,
        taxPaid: 100,
        currency: 'EUR',
      })),
    });
    const { pages } = readPdf(await render(summary));
    expect(pages.length).toBeLessThanOrEqual(3);
    const text = pages.map((page) => page.text).join('\n');
    expect(text).toContain('Other (392 categories)'); // chart: 8 named, the rest as one bar
    expect(text).toContain('Jan 2026'); // the last month is in the monthly table
    expect(text).toContain('latest 8 of 50');
    expect(filledRectangles(pages[0].content)).toBeGreaterThanOrEqual(2 * 121);
  });

  it('names a ninth category rather than an "Other" of one', async () => {
    const categories = Array.from({ length: 9 }, (_, i) => ({
      category: `cat-${i}`,
      amount: 900 - i,
      count: 1,
    }));
    const [first] = readPdf(await render(summaryOf([], { spendingByCategory: categories }))).pages;
    expect(first.text).toContain('cat-8');
    expect(first.text).not.toContain('Other (');
  });

  it('renders a report without transactions, credit or filings', async () => {
    const summary = summaryOf([], { credit: null, taxFilings: [] });
    const { pages } = readPdf(await render(summary));
    expect(pages.length).toBeGreaterThanOrEqual(1);
    expect(pages.length).toBeLessThanOrEqual(3);
    const text = pages.map((page) => page.text).join('\n');
    expect(text).toContain('No money went out in this period.');
    expect(text).toContain('The credit bureau returned no credit report.');
    expect(text).toContain('The tax authority returned no filings.');
  });
});
