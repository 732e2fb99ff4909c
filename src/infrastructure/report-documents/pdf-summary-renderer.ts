import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { create as parseFont, type Font } from 'fontkit';
import PDFDocument from 'pdfkit';
import type { SummaryDocumentRenderer } from '../../application/ports/summary-document.port.js';
import type { RejectionReason, ReportSummary } from '../../domain/report/report-summary.js';
import {
  COLORS,
  FONTS,
  drawCategoryChart,
  drawMonthlyChart,
  fitText,
  topCategories,
  type Canvas,
} from './pdf-charts.js';
import {
  finite,
  formatCount,
  formatDate,
  formatInstant,
  formatMoney,
  formatMonth,
  maskTaxId,
  printable,
} from './summary-format.js';

const require = createRequire(import.meta.url);
/** DejaVu Sans covers Latin, Greek, Cyrillic and the symbols printed here (•, –, —, €, …). */
const FONT_FILES = {
  [FONTS.regular]: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'),
  [FONTS.bold]: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf'),
};

/**
 * The fonts, parsed once per process. PDFKit parses a font given by file for every document: with 100 reports
 * at once that was ~19 % of the process's CPU (fontkit and its binary parser, in a CPU profile of
 * `npm run bench -- report.concurrent`). PDFKit takes a parsed fontkit font as it is (`PDFFontFactory.open`:
 * anything with `layout`) and only reads it: each document makes its own subset, synchronously.
 */
let parsedFonts: Readonly<Record<string, Font>> | undefined;
const fonts = (): Readonly<Record<string, Font>> =>
  (parsedFonts ??= Object.fromEntries(
    Object.entries(FONT_FILES).map(([name, file]) => {
      const font = parseFont(readFileSync(file));
      if (!('layout' in font)) throw new Error(`${file} is a font collection, not a font`);
      return [name, font];
    }),
  ));
/** @types/pdfkit lists file names and bytes only; PDFKit's code takes a parsed font as well (above). */
const asSource = (font: Font): PDFKit.Mixins.PDFFontSource => font as unknown as PDFKit.Mixins.PDFFontSource;

const MARGIN = 48;
const PAGE = { width: 595.28, height: 841.89 }; // A4, in points
const CONTENT = PAGE.width - 2 * MARGIN;
const BOTTOM = PAGE.height - MARGIN - 18; // above the footer

/** Tables are bounded so that the document stays within three pages whatever the providers sent. */
const TABLE_CATEGORIES = 10;
const TABLE_FILINGS = 8;
const NOTE_CURRENCIES = 6;

type Column = Readonly<{ title: string; width: number; align?: 'left' | 'right' }>;

const CREDIT_BANDS = [
  { from: 300, to: 580, color: '#c53030' },
  { from: 580, to: 670, color: '#dd6b20' },
  { from: 670, to: 740, color: '#d69e2e' },
  { from: 740, to: 800, color: '#38a169' },
  { from: 800, to: 850, color: '#276749' },
] as const;

const REJECTION_LABELS: Record<RejectionReason, string> & Record<string, string | undefined> = {
  invalid_row: 'without an id',
  invalid_date: 'with an invalid date',
  outside_period: 'dated outside the period',
  invalid_amount: 'with an invalid amount',
  invalid_currency: 'with an invalid currency',
  invalid_credit_report: 'credit report with invalid values',
  invalid_tax_filing: 'tax filings with invalid values',
};

/**
 * summary.pdf with PDFKit: A4, one to three pages, DejaVu Sans embedded (subset), charts drawn as vector
 * paths. Page 1: subject (tax ID masked), period, key figures, monthly in/out chart, spending-by-category
 * chart. Then credit, tax filings, the category and monthly tables and notes on what was left out. Every
 * figure is read from the summary (the same object summary.json is written from).
 *
 * Deterministic: the document's dates are `generatedAt` and its info is fixed, so the file ID (an MD5 of
 * the info) and all bytes depend on the summary alone.
 */
export class PdfSummaryRenderer implements SummaryDocumentRenderer {
  readonly fileName = 'summary.pdf';
  readonly contentType = 'application/pdf';

  render(summary: ReportSummary): Readable {
    const generatedAt = new Date(summary.generatedAt);
    const date = Number.isNaN(generatedAt.getTime()) ? new Date(0) : generatedAt;
    const { [FONTS.regular]: regular, [FONTS.bold]: bold } = fonts();
    const doc = new PDFDocument({
      size: 'A4',
      margin: MARGIN,
      bufferPages: true,
      // The parsed font, as the registered one below: PDFKit then embeds DejaVu Sans once, as F1.
      font: asSource(regular) as unknown as string,
      info: {
        Title: 'Financial summary',
        Author: 'Conflux',
        Creator: 'Conflux',
        Producer: 'Conflux',
        CreationDate: date,
        ModDate: date,
      },
    });
    doc.registerFont(FONTS.regular, asSource(regular));
    doc.registerFont(FONTS.bold, asSource(bold));
    new SummaryLayout(doc, summary).draw();
    doc.end();
    return doc;
  }
}

/** One document's drawing: a cursor `y` that flows down the pages. */
class SummaryLayout {
  private y = MARGIN;

  constructor(
    private readonly doc: Canvas,
    private readonly summary: ReportSummary,
  ) {}

  draw(): void {
    this.header();
    this.keyFigures();
    this.section('Money in and out per month', 0);
    drawMonthlyChart(
      this.doc,
      { x: MARGIN, y: this.y, width: CONTENT, height: 250 },
      this.summary.monthly,
      this.summary.currency,
    );
    this.y += 266;
    const categories = this.summary.spendingByCategory;
    this.section('Spending by category', 0, `Money out, ${formatCount(categories.length)} categories`);
    drawCategoryChart(
      this.doc,
      { x: MARGIN, y: this.y, width: CONTENT, height: 9 * 24 },
      categories,
      this.summary.totals.moneyOut,
      this.summary.currency,
    );

    this.newPage();
    this.credit();
    this.taxFilings();
    this.categoryTable();
    this.notes();
    this.monthlyTable();
    this.footers();
  }

  private newPage(): void {
    this.doc.addPage();
    this.y = MARGIN;
  }

  /** A section title; starts a new page first when `needed` points do not fit below it. */
  private section(title: string, needed: number, subtitle?: string): void {
    if (this.y + 24 + needed > BOTTOM) this.newPage();
    const doc = this.doc;
    doc.font(FONTS.bold).fontSize(12).fillColor(COLORS.ink).text(title, MARGIN, this.y, { lineBreak: false });
    if (subtitle) {
      const x = MARGIN + doc.widthOfString(title) + 8;
      doc
        .font(FONTS.regular)
        .fontSize(8.5)
        .fillColor(COLORS.muted)
        .text(subtitle, x, this.y + 3, {
          lineBreak: false,
        });
    }
    this.y += 22;
  }

  private header(): void {
    const doc = this.doc;
    const { subject, period, generatedAt, currency } = this.summary;
    doc.rect(0, 0, PAGE.width, 6).fill(COLORS.bar);
    doc
      .font(FONTS.bold)
      .fontSize(8)
      .fillColor(COLORS.muted)
      .text('CONFLUX  ·  REPORT SUMMARY', MARGIN, this.y, { characterSpacing: 1, lineBreak: false });
    doc
      .font(FONTS.bold)
      .fontSize(22)
      .fillColor(COLORS.ink)
      .text('Financial summary', MARGIN, this.y + 14, { lineBreak: false });
    this.y += 50;
    const facts: [string, string][] = [
      ['Subject', `Tax ID ${maskTaxId(subject.taxId)}`],
      ['Period', `${formatDate(period.from)} – ${formatDate(period.to)}`],
      ['Currency', currency ?? '—'],
      ['Generated', formatInstant(generatedAt)],
    ];
    // Column widths by what they hold: the period and the instant are the long ones.
    const widths = [0.2, 0.34, 0.14, 0.32].map((share) => share * CONTENT);
    let x = MARGIN;
    facts.forEach(([label, value], index) => {
      const width = widths[index] ?? 0;
      doc.font(FONTS.regular).fontSize(7.5).fillColor(COLORS.muted).text(label.toUpperCase(), x, this.y, {
        characterSpacing: 0.5,
        lineBreak: false,
      });
      doc.font(FONTS.bold).fontSize(9.5).fillColor(COLORS.ink);
      doc.text(fitText(doc, value, width - 10), x, this.y + 11, { lineBreak: false });
      x += width;
    });
    this.y += 32;
    doc
      .moveTo(MARGIN, this.y)
      .lineTo(MARGIN + CONTENT, this.y)
      .lineWidth(0.75)
      .strokeColor(COLORS.grid)
      .stroke();
    this.y += 16;
  }

  private keyFigures(): void {
    const doc = this.doc;
    const { totals, currency } = this.summary;
    const cards: [string, string, string][] = [
      ['Money in', formatMoney(totals.moneyIn, currency), COLORS.moneyIn],
      ['Money out', formatMoney(totals.moneyOut, currency), COLORS.moneyOut],
      ['Net', formatMoney(totals.net, currency), COLORS.ink],
      ['Transactions', formatCount(totals.count), COLORS.ink],
    ];
    const gap = 10;
    const width = (CONTENT - gap * (cards.length - 1)) / cards.length;
    cards.forEach(([label, value, color], index) => {
      const x = MARGIN + index * (width + gap);
      doc.roundedRect(x, this.y, width, 54, 4).fill(COLORS.track);
      doc.rect(x, this.y, 3, 54).fill(color);
      doc
        .font(FONTS.regular)
        .fontSize(7.5)
        .fillColor(COLORS.muted)
        .text(label.toUpperCase(), x + 12, this.y + 11, { characterSpacing: 0.5, lineBreak: false });
      let size = 13;
      doc.font(FONTS.bold).fontSize(size).fillColor(color);
      // Long amounts shrink rather than overflow the card.
      while (doc.widthOfString(value) > width - 20 && size > 8) doc.fontSize((size -= 0.5));
      doc.text(value, x + 12, this.y + 28, { lineBreak: false });
    });
    this.y += 54 + 24;
  }

  private credit(): void {
    const doc = this.doc;
    const credit = this.summary.credit;
    this.section('Credit', 96);
    if (credit === null || typeof credit !== 'object') {
      this.line('The credit bureau returned no credit report.');
      return;
    }
    const score = finite(credit.score);
    doc
      .font(FONTS.bold)
      .fontSize(26)
      .fillColor(COLORS.ink)
      .text(score === undefined ? '—' : String(score), MARGIN, this.y, {
        lineBreak: false,
      });
    doc
      .font(FONTS.regular)
      .fontSize(9)
      .fillColor(COLORS.muted)
      .text(`score · ${printable(credit.band ?? '—', 20).replaceAll('-', ' ')}`, MARGIN, this.y + 32, {
        lineBreak: false,
      });
    // A 300–850 scale in bands with a marker at the score.
    const scale = { x: MARGIN + 90, y: this.y + 8, width: 160, height: 10 };
    for (const band of CREDIT_BANDS) {
      const x = scale.x + ((band.from - 300) / 550) * scale.width;
      doc.rect(x, scale.y, ((band.to - band.from) / 550) * scale.width, scale.height).fill(band.color);
    }
    if (score !== undefined) {
      const x = scale.x + ((Math.min(850, Math.max(300, score)) - 300) / 550) * scale.width;
      doc
        .moveTo(x, scale.y - 2)
        .lineTo(x - 4, scale.y - 8)
        .lineTo(x + 4, scale.y - 8)
        .closePath()
        .fill(COLORS.ink);
    }
    doc.font(FONTS.regular).fontSize(7).fillColor(COLORS.muted);
    doc.text('300', scale.x, scale.y + 13, { lineBreak: false });
    doc.text('850', scale.x + scale.width - 20, scale.y + 13, {
      width: 20,
      align: 'right',
      lineBreak: false,
    });

    // The bureau gives the debt without a currency: it is printed as a bare amount.
    const facts: [string, string][] = [
      ['Open accounts', formatCount(credit.openAccounts)],
      ['Delinquencies', formatCount(credit.delinquencies)],
      ['Total debt', formatMoney(credit.totalDebt, null)],
    ];
    const x0 = scale.x + scale.width + 36;
    const width = (MARGIN + CONTENT - x0) / facts.length;
    facts.forEach(([label, value], index) => {
      const x = x0 + index * width;
      doc
        .font(FONTS.regular)
        .fontSize(7.5)
        .fillColor(COLORS.muted)
        .text(label, x, this.y + 2, { lineBreak: false });
      doc.font(FONTS.bold).fontSize(10).fillColor(COLORS.ink);
      doc.text(fitText(doc, value, width - 6), x, this.y + 14, { lineBreak: false });
    });
    this.y += 62;
  }

  private taxFilings(): void {
    const filings = this.summary.taxFilings.filter((f) => typeof f === 'object' && f !== null);
    const shown = filings.slice(-TABLE_FILINGS);
    this.section(
      'Tax filings',
      16 * (shown.length + 1),
      filings.length > shown.length ? `latest ${shown.length} of ${filings.length}` : undefined,
    );
    if (shown.length === 0) {
      this.line('The tax authority returned no filings.');
      return;
    }
    this.table(
      [
        { title: 'Year', width: 80 },
        { title: 'Income', width: 150, align: 'right' },
        { title: 'Tax paid', width: 150, align: 'right' },
        { title: 'Effective rate', width: CONTENT - 380, align: 'right' },
      ],
      shown.map((filing) => {
        const currency = typeof filing.currency === 'string' ? filing.currency : null;
        const income = finite(filing.income);
        const paid = finite(filing.taxPaid);
        return [
          finite(filing.year) === undefined ? '—' : String(filing.year),
          formatMoney(income, currency),
          formatMoney(paid, currency),
          income && paid !== undefined ? `${((paid / income) * 100).toFixed(1)}%` : '—',
        ];
      }),
    );
  }

  private categoryTable(): void {
    const { spendingByCategory: categories, currency, totals } = this.summary;
    if (categories.length === 0) return;
    const rows = topCategories(categories, TABLE_CATEGORIES).map((c) => [
      printable(c.category, 60) || '(no category)',
      formatCount(c.count),
      formatMoney(c.amount, currency),
      share(c.amount, totals.moneyOut),
    ]);
    this.section('Spending by category', 16 * (rows.length + 1));
    this.table(
      [
        { title: 'Category', width: CONTENT - 310 },
        { title: 'Transactions', width: 80, align: 'right' },
        { title: 'Money out', width: 150, align: 'right' },
        { title: 'Share', width: 80, align: 'right' },
      ],
      rows,
    );
  }

  private notes(): void {
    const { otherCurrencies, rejected } = this.summary;
    const notes: string[] = [];
    if (otherCurrencies.length > 0) {
      const listed = otherCurrencies
        .slice(0, NOTE_CURRENCIES)
        .map((c) => `${printable(c.currency, 8)} (${formatCount(c.count)})`)
        .join(', ');
      const more =
        otherCurrencies.length > NOTE_CURRENCIES
          ? ` and ${otherCurrencies.length - NOTE_CURRENCIES} more`
          : '';
      notes.push(`Transactions in other currencies are not in the figures: ${listed}${more}.`);
    }
    if (rejected.count > 0) {
      const reasons = Object.entries(rejected.byReason)
        .map(
          ([reason, count]) => `${formatCount(count)} ${REJECTION_LABELS[reason] ?? printable(reason, 24)}`,
        )
        .join(', ');
      notes.push(`${formatCount(rejected.count)} provider rows were left out: ${reasons}.`);
    }
    notes.push(
      'Every figure in this document is also in summary.json; the transactions are in transactions.csv.',
    );
    this.section('Notes', 14 * notes.length);
    for (const note of notes) this.line(note);
  }

  /** Month by month, in two columns when the period is long; on the next page when it does not fit. */
  private monthlyTable(): void {
    const { monthly, currency } = this.summary;
    if (monthly.length === 0) return;
    const columns = monthly.length > 24 ? 2 : 1;
    const perColumn = Math.ceil(monthly.length / columns);
    const rowHeight = Math.min(15, (BOTTOM - MARGIN - 24 - 18) / (perColumn + 1));
    this.y += 8;
    this.section('Monthly figures', rowHeight * (perColumn + 1));
    const gap = 16;
    const width = (CONTENT - gap * (columns - 1)) / columns;
    const top = this.y;
    for (let column = 0; column < columns; column++) {
      this.y = top;
      const money = (width - 58) / 3;
      this.table(
        [
          { title: 'Month', width: 58 },
          { title: 'In', width: money, align: 'right' },
          { title: 'Out', width: money, align: 'right' },
          { title: 'Net', width: money, align: 'right' },
        ],
        monthly
          .slice(column * perColumn, (column + 1) * perColumn)
          .map((m) => [
            formatMonth(m.month),
            formatMoney(m.in, currency),
            formatMoney(m.out, currency),
            formatMoney(m.in - m.out, currency),
          ]),
        MARGIN + column * (width + gap),
        rowHeight,
        columns === 2 ? 7 : 8.5,
      );
    }
  }

  /** A plain table: a bold header row over a rule, then rows; cells are cut to their column. */
  private table(
    columns: readonly Column[],
    rows: readonly string[][],
    x0 = MARGIN,
    rowHeight = 16,
    size = 8.5,
  ): void {
    const doc = this.doc;
    const width = columns.reduce((sum, c) => sum + c.width, 0);
    const cells = (values: readonly string[], font: string, color: string) => {
      let x = x0;
      doc.font(font).fontSize(size).fillColor(color);
      columns.forEach((column, index) => {
        const text = fitText(doc, values[index] ?? '', column.width - 8);
        // A left-aligned cell keeps 8 pt clear before the next column; a right-aligned one ends at its edge.
        doc.text(text, x, this.y + (rowHeight - size) / 2 - 1, {
          width: column.width - (column.align === 'right' ? 0 : 8),
          align: column.align ?? 'left',
          lineBreak: false,
        });
        x += column.width;
      });
    };
    cells(
      columns.map((c) => c.title),
      FONTS.bold,
      COLORS.muted,
    );
    this.y += rowHeight;
    doc
      .moveTo(x0, this.y)
      .lineTo(x0 + width, this.y)
      .lineWidth(0.75)
      .strokeColor(COLORS.axis)
      .stroke();
    rows.forEach((row, index) => {
      if (index % 2 === 1) doc.rect(x0, this.y, width, rowHeight).fill(COLORS.track);
      cells(row, FONTS.regular, COLORS.ink);
      this.y += rowHeight;
    });
    this.y += 14;
  }

  private line(text: string): void {
    this.doc.font(FONTS.regular).fontSize(8.5).fillColor(COLORS.ink);
    const height = this.doc.heightOfString(text, { width: CONTENT });
    this.doc.text(text, MARGIN, this.y, { width: CONTENT });
    this.y += height + 4;
  }

  /** "Page n of m" and the masked subject at the foot of every page, once the page count is known. */
  private footers(): void {
    const doc = this.doc;
    const { start, count } = doc.bufferedPageRange();
    for (let page = start; page < start + count; page++) {
      doc.switchToPage(page);
      const text = `Conflux report summary · Tax ID ${maskTaxId(this.summary.subject.taxId)} · ${formatDate(this.summary.period.from)} – ${formatDate(this.summary.period.to)}`;
      // Below the bottom margin: PDFKit would start a page for text drawn there unless the margin is lifted.
      doc.page.margins.bottom = 0;
      doc.font(FONTS.regular).fontSize(7).fillColor(COLORS.muted);
      doc.text(text, MARGIN, PAGE.height - MARGIN + 8, { lineBreak: false });
      doc.text(`Page ${page - start + 1} of ${count}`, MARGIN, PAGE.height - MARGIN + 8, {
        width: CONTENT,
        align: 'right',
        lineBreak: false,
      });
    }
  }
}

const share = (amount: number, total: number): string =>
  total > 0 ? `${((amount / total) * 100).toFixed(1)}%` : '—';
