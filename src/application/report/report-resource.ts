import { z } from 'zod';
import { PROVIDER_NAMES, type ProviderName } from '../../domain/report/provider-data.js';
import { providerDurationMs } from '../../domain/report/provider-duration.js';
import type { Report } from '../../domain/report/report.decider.js';
import type { ObjectStorage } from '../ports/object-storage.port.js';

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();
const providerProgress = z.object({
  status: z.enum(['pending', 'processing', 'done', 'failed']),
  attempts: z.number().int().min(0),
  durationMs: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'Once the provider has finished: milliseconds from its job being accepted to its result or failure. ' +
        'Absent until then and when no job was accepted; in the list, absent from reports projected before ' +
        'the field existed until the tenant read model is rebuilt',
    ),
});

/**
 * A report as the API shows it (api.md "Report"): the one source of the TypeScript type and of the
 * OpenAPI response schema. Files carry links minted afresh on every read.
 */
export const reportResourceSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  status: z.enum(['pending', 'running', 'generating', 'ready', 'failed', 'cancelled']),
  subject: z.object({ taxId: z.string() }),
  period: z.object({ from: isoDate, to: isoDate }),
  progress: z.object({
    percent: z.number().int().min(0).max(100),
    providers: z.object(
      Object.fromEntries(PROVIDER_NAMES.map((p) => [p, providerProgress])) as Record<
        ProviderName,
        typeof providerProgress
      >,
    ),
  }),
  files: z.array(
    z.object({
      name: z.string().describe('transactions.csv, summary.json or summary.pdf'),
      contentType: z.string(),
      rows: z.number().int().min(0).optional(),
      bytes: z.number().int().min(0),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      url: z.string().min(1).describe('Signed download link, valid without credentials until expiresAt'),
      expiresAt: isoDateTime,
    }),
  ),
  error: z
    .object({ code: z.string(), message: z.string(), provider: z.enum(PROVIDER_NAMES).nullable() })
    .nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  completedAt: isoDateTime.nullable(),
  retainedUntil: isoDateTime
    .nullable()
    .describe(
      'A ready report: when its files are deleted (FILE_RETENTION_DAYS); the file route then answers 410',
    ),
});

export type ReportResource = Readonly<z.infer<typeof reportResourceSchema>>;

/** Each provider done is 30 %, generation the last 10 %: progress moves only forwards. */
const percentOf = (report: Report): number => {
  if (report.status === 'ready') return 100;
  const done = PROVIDER_NAMES.filter((p) => report.providers[p].status === 'done').length;
  return done * 30;
};

/**
 * True once a ready report's files are past retention: deleted, or due to be deleted (`now` in epoch ms).
 * States stored by the read model before retention existed lack both fields: they never expire here.
 */
export const filesExpired = (report: Report, now: number): boolean => {
  const { filesExpiredAt = null, retainedUntil = null } = report;
  return filesExpiredAt !== null || (retainedUntil !== null && now >= Date.parse(retainedUntil));
};

export const toReportResource = async (
  report: Report,
  storage: ObjectStorage,
  downloadTtlSeconds: number,
): Promise<ReportResource> => ({
  id: report.id,
  tenantId: report.tenantId,
  status: report.status === 'initial' ? 'pending' : report.status,
  subject: { taxId: report.subject.taxId },
  period: { from: report.period.from, to: report.period.to },
  progress: {
    percent: percentOf(report),
    providers: Object.fromEntries(
      PROVIDER_NAMES.map((p) => {
        const { status, attempts } = report.providers[p];
        const durationMs = providerDurationMs(report.providers[p]);
        return [p, { status, attempts, ...(durationMs === undefined ? {} : { durationMs }) }];
      }),
    ) as ReportResource['progress']['providers'],
  },
  files:
    report.status !== 'ready' || filesExpired(report, Date.now())
      ? []
      : await Promise.all(
          report.files.map(async (file) => {
            const signed = await storage.signedDownloadUrl(file.key, {
              fileName: file.name,
              contentType: file.contentType,
              expiresInSeconds: downloadTtlSeconds,
            });
            return {
              name: file.name,
              contentType: file.contentType,
              ...(file.rows === undefined ? {} : { rows: file.rows }),
              bytes: file.bytes,
              sha256: file.sha256,
              url: signed.url,
              expiresAt: signed.expiresAt.toISOString(),
            };
          }),
        ),
  error: report.error
    ? { code: report.error.code, message: report.error.message, provider: report.error.provider ?? null }
    : null,
  createdAt: report.requestedAt,
  updatedAt: report.updatedAt,
  completedAt: report.completedAt,
  retainedUntil: report.status === 'ready' ? (report.retainedUntil ?? null) : null,
});
