import type { CategorySpending, MonthlyFlow } from '../../domain/report/report-summary.js';
import { formatCompact, formatMoney, monthName, printable } from './summary-format.js';

/** The drawing surface: a PDFKit document (charts are vector paths and text, no images). */
export type Canvas = PDFKit.PDFDocument;

export type Box = Readonly<{ x: number; y: number; width: number; height: number }>;

export const COLORS = {
  ink: '#1f2933',
  muted: '#616e7c',
  grid: '#e4e7eb',
  axis: '#9aa5b1',
  moneyIn: '#2f855a',
  moneyOut: '#c05621',
  bar: '#2c5282',
  track: '#f0f4f8',
} as const;

export const FONTS = { regular: 'DejaVuSans', bold: 'DejaVuSans-Bold' } as const;

/** A round step for about `count` ticks from 0 to `max` (1, 2, 2.5 or 5 × 10ⁿ). */
const niceStep = (max: number, count: number): number => {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  return step ?? 10 * magnitude;
};

/** `text` cut with an ellipsis until it fits `width` at the current font and size. */
export const fitText = (doc: Canvas, text: string, width: number): string => {
  if (doc.widthOfString(text) <= width) return text;
  const chars = [...text];
  while (chars.length > 1 && doc.widthOfString(`${chars.join('')}…`) > width) chars.pop();
  return `${chars.join('')}…`;
};

const swatch = (doc: Canvas, x: number, y: number, color: string, label: string): number => {
  doc.rect(x, y + 1, 8, 8).fill(color);
  doc
    .font(FONTS.regular)
    .fontSize(8)
    .fillColor(COLORS.muted)
    .text(label, x + 12, y, { lineBreak: false });
  return x + 12 + doc.widthOfString(label) + 14;
};

/**
 * Grouped bars of money in and out per month, with a y axis of round amounts, gridlines, month labels
 * (the year under each January and the first month) and a legend. Long periods (up to ten years) keep
 * every bar and label fewer months.
 */
export const drawMonthlyChart = (
  doc: Canvas,
  box: Box,
  monthly: readonly MonthlyFlow[],
  currency: string | null,
): void => {
  const legendY = box.y;
  let legendX = box.x + box.width - 150;
  legendX = swatch(doc, legendX, legendY, COLORS.moneyIn, 'Money in');
  swatch(doc, legendX, legendY, COLORS.moneyOut, 'Money out');

  const axisWidth = 44;
  const plot = { x: box.x + axisWidth, y: box.y + 20, width: box.width - axisWidth, height: box.height - 52 };
  const max = Math.max(0, ...monthly.map((m) => Math.max(m.in, m.out)));
  const step = max > 0 ? niceStep(max, 4) : 1;
  const top = max > 0 ? Math.ceil(max / step) * step : 4;
  const yOf = (value: number) => plot.y + plot.height - (value / top) * plot.height;

  doc.font(FONTS.regular).fontSize(7);
  for (let tick = 0; tick <= top + step / 2; tick += step) {
    const y = yOf(tick);
    doc
      .moveTo(plot.x, y)
      .lineTo(plot.x + plot.width, y)
      .lineWidth(0.5)
      .strokeColor(tick === 0 ? COLORS.axis : COLORS.grid)
      .stroke();
    doc.fillColor(COLORS.muted).text(formatCompact(tick), box.x, y - 3.5, {
      width: axisWidth - 6,
      align: 'right',
      lineBreak: false,
    });
  }
  doc
    .fillColor(COLORS.muted)
    .text(currency ?? '', box.x, plot.y - 14, { width: axisWidth - 6, align: 'right', lineBreak: false });

  if (monthly.length === 0) return;
  const slot = plot.width / monthly.length;
  const barWidth = Math.max(0.6, Math.min(14, (slot * 0.72) / 2));
  // Label every month while they fit, otherwise every 3rd, 6th or 12th.
  const every = [1, 2, 3, 6, 12].find((n) => slot * n >= 24) ?? 12;
  monthly.forEach((month, index) => {
    const center = plot.x + slot * index + slot / 2;
    for (const [value, color, offset] of [
      [month.in, COLORS.moneyIn, -barWidth],
      [month.out, COLORS.moneyOut, 0],
    ] as const) {
      const height = plot.y + plot.height - yOf(value);
      if (height > 0) doc.rect(center + offset, yOf(value), barWidth, height).fill(color);
    }
    const labelled = index % every === 0;
    if (!labelled) return;
    const first = index === 0 || month.month.endsWith('-01');
    doc
      .font(FONTS.regular)
      .fontSize(7)
      .fillColor(COLORS.muted)
      .text(monthName(month.month), center - 15, plot.y + plot.height + 4, {
        width: 30,
        align: 'center',
        lineBreak: false,
      });
    if (first)
      doc.text(month.month.slice(0, 4), center - 15, plot.y + plot.height + 13, {
        width: 30,
        align: 'center',
        lineBreak: false,
      });
  });
};

/**
 * The largest `limit` categories by name, and the rest summed as one "Other (n categories)" entry — or
 * every category when only one would be left over (an "Other" of one hides its name for nothing).
 */
export const topCategories = (categories: readonly CategorySpending[], limit: number): CategorySpending[] => {
  if (categories.length <= limit + 1) return [...categories];
  const rest = categories.slice(limit);
  return [
    ...categories.slice(0, limit),
    {
      category: `Other (${rest.length} categories)`,
      amount: rest.reduce((sum, c) => sum + c.amount, 0),
      count: rest.reduce((sum, c) => sum + c.count, 0),
    },
  ];
};

/** How many categories the chart names; the rest are one "Other" bar. */
export const CHART_CATEGORIES = 8;

/**
 * Horizontal bars of money out per category, largest first: the first `CHART_CATEGORIES` by name, the
 * rest summed as one "Other" bar (topCategories); each bar carries its amount and its share of
 * `moneyOut` (all money out).
 */
export const drawCategoryChart = (
  doc: Canvas,
  box: Box,
  categories: readonly CategorySpending[],
  moneyOut: number,
  currency: string | null,
): void => {
  const shown = topCategories(categories, CHART_CATEGORIES);
  const max = Math.max(0, ...shown.map((c) => c.amount));
  const labelWidth = 120;
  const valueWidth = 118;
  const barArea = box.width - labelWidth - valueWidth;
  const rowHeight = Math.min(24, box.height / Math.max(1, shown.length));

  if (shown.length === 0) {
    doc
      .font(FONTS.regular)
      .fontSize(9)
      .fillColor(COLORS.muted)
      .text('No money went out in this period.', box.x, box.y, { lineBreak: false });
    return;
  }
  shown.forEach((category, index) => {
    const y = box.y + index * rowHeight;
    const barHeight = rowHeight * 0.62;
    const barY = y + (rowHeight - barHeight) / 2;
    doc.font(FONTS.regular).fontSize(8).fillColor(COLORS.ink);
    const label = fitText(doc, printable(category.category, 60) || '(no category)', labelWidth - 8);
    doc.text(label, box.x, barY + barHeight / 2 - 4.5, { width: labelWidth - 8, lineBreak: false });
    doc.rect(box.x + labelWidth, barY, barArea, barHeight).fill(COLORS.track);
    const width = max > 0 ? (category.amount / max) * barArea : 0;
    if (width > 0) doc.rect(box.x + labelWidth, barY, Math.max(0.8, width), barHeight).fill(COLORS.bar);
    const share = moneyOut > 0 ? ` · ${((category.amount / moneyOut) * 100).toFixed(1)}%` : '';
    doc
      .font(FONTS.regular)
      .fontSize(8)
      .fillColor(COLORS.muted)
      .text(
        `${formatMoney(category.amount, currency)}${share}`,
        box.x + labelWidth + barArea + 6,
        barY + barHeight / 2 - 4.5,
        {
          width: valueWidth - 6,
          align: 'left',
          lineBreak: false,
        },
      );
  });
};
