import { Module } from '@nestjs/common';
import { SUMMARY_DOCUMENT_RENDERER } from '../../application/ports/summary-document.port.js';
import { PdfSummaryRenderer } from './pdf-summary-renderer.js';

/** The documents drawn from a report's summary: summary.pdf (PDFKit, ADR 0020). */
@Module({
  providers: [{ provide: SUMMARY_DOCUMENT_RENDERER, useClass: PdfSummaryRenderer }],
  exports: [SUMMARY_DOCUMENT_RENDERER],
})
export class ReportDocumentsModule {}
