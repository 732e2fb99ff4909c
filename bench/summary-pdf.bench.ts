import { buffer } from 'node:stream/consumers';
import {
  addTransaction,
  emptySummary,
  finishSummary,
  type ReportSummary,
} from '../src/domain/report/report-summary.js';
import { PdfSummaryRenderer } from '../src/infrastructure/report-documents/pdf-summary-renderer.js';
import { median, type Benchmark, type Figure } from './support.js';
import { syntheticTransactions } from './synthetic-transactions.js';

/**
 * Rendering summary.pdf from a finished summary (the file stage's last step). The summary is aggregated,
 * so its size is set by months and categories, not rows: a 2,000-row and a 5M-row year of the synthetic
 * transactions give summaries of the same shape (12 months, 8 categories), and the largest summary a
 * request allows is ten years (121 months) with hundreds of categories. Figures: the median of
 * `SUMMARY_PDF_RUNS` (default 20) renders, and each summary's first render (for the first summary, the
 * process's first: code not yet optimised). `SUMMARY_PDF_ROWS` (default 5,000,000) shortens the large case.
 */
const RUNS = Number(process.env.SUMMARY_PDF_RUNS ?? 20);
const LARGE_ROWS = Number(process.env.SUMMARY_PDF_ROWS ?? 5_000_000);

const context = {
  subject: { taxId: 'BENCH-123456' },
  period: { from: '2024-01-01', to: '2024-12-31' },
  generatedAt: '2025-01-01T00:00:00.000Z',
  credit: { score: 712, band: 'good', openAccounts: 4, delinquencies: 0, totalDebt: 18250.5 },
  taxFilings: [{ year: 2024, income: 64_000, taxPaid: 15_200.25, currency: 'EUR' }],
} as const;

const summaryOfRows = (rows: number): ReportSummary => {
  const acc = emptySummary();
  for (const tx of syntheticTransactions(rows)) addTransaction(acc, tx);
  return finishSummary(acc, context);
};

/** Ten years of months and 400 categories: the biggest summary the API lets a report have. */
const largestSummary = (): ReportSummary => ({
  ...summaryOfRows(2000),
  period: { from: '2015-01-01', to: '2025-01-31' },
  monthly: Array.from({ length: 121 }, (_, i) => ({
    month: `${2015 + Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')}`,
    in: 400_000 + i * 1000,
    out: 350_000 + i * 900,
  })),
  spendingByCategory: Array.from({ length: 400 }, (_, i) => ({
    category: `category ${i}`,
    amount: 1e6 / (i + 1),
    count: 1000 - i,
  })),
});

export const benchmarks: Benchmark[] = [
  {
    name: 'summary-pdf',
    figures: ['summary.pdf.render_ms'],
    run: async () => {
      const renderer = new PdfSummaryRenderer();
      // Wall time, and the CPU time it took: on a shared machine the first swings with others' load.
      const time = async (summary: ReportSummary) => {
        const started = process.hrtime.bigint();
        const cpu = process.cpuUsage();
        const pdf = await buffer(renderer.render(summary));
        const used = process.cpuUsage(cpu);
        return {
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          cpuMs: (used.user + used.system) / 1e3,
          bytes: pdf.length,
        };
      };
      const figures: Figure[] = [];
      for (const [label, summary] of [
        ['2k rows', summaryOfRows(2000)],
        [`${LARGE_ROWS} rows`, summaryOfRows(LARGE_ROWS)],
        ['10 years, 400 categories', largestSummary()],
      ] as const) {
        const first = await time(summary);
        const runs = [];
        for (let i = 0; i < RUNS; i++) runs.push(await time(summary));
        figures.push({
          name: 'summary.pdf.render_ms',
          value: Math.round(median(runs.map((r) => r.ms)) * 10) / 10,
          cpuMs: Math.round(median(runs.map((r) => r.cpuMs)) * 10) / 10,
          unit: 'ms',
          summary: label,
          months: summary.monthly.length,
          categories: summary.spendingByCategory.length,
          firstRenderMs: Math.round(first.ms * 10) / 10,
          bytes: first.bytes,
          runs: runs.map((r) => Math.round(r.ms * 10) / 10),
        });
      }
      return figures;
    },
  },
];
