import type { Readable } from 'node:stream';
import type { ReportSummary } from '../../domain/report/report-summary.js';

/** Renders a report's summary as a printable document (summary.pdf). */
export const SUMMARY_DOCUMENT_RENDERER = Symbol('SummaryDocumentRenderer');

export interface SummaryDocumentRenderer {
  /** File name of the document in the report's files, e.g. `summary.pdf`. */
  readonly fileName: string;
  /** Its media type, e.g. `application/pdf`. */
  readonly contentType: string;
  /**
   * The document's bytes as a stream, drawn from `summary` alone: the same summary always gives the same
   * bytes (its dates come from `summary.generatedAt`, never from the clock), so a regenerated report keeps
   * its sha256. Never prints the subject's tax ID in full.
   */
  render(summary: ReportSummary): Readable;
}
