import { PROVIDER_NAMES } from '../../domain/report/provider-data.js';
import type { Report } from '../../domain/report/report.decider.js';
import type { ObjectStorage } from '../ports/object-storage.port.js';

/** A report as the API shows it (api.md "Report"). Files carry links minted afresh on every read. */
export type ReportResource = Readonly<{
  id: string;
  tenantId: string;
  status: Exclude<Report['status'], 'initial'>;
  subject: { taxId: string };
  period: { from: string; to: string };
  progress: {
    percent: number;
    providers: Record<string, { status: string; attempts: number }>;
  };
  files: Array<{
    name: string;
    contentType: string;
    rows?: number;
    bytes: number;
    sha256: string;
    url: string;
    expiresAt: string;
  }>;
  error: { code: string; message: string; provider: string | null } | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}>;

/** Each provider done is 30 %, generation the last 10 %: progress moves only forwards. */
const percentOf = (report: Report): number => {
  if (report.status === 'ready') return 100;
  const done = PROVIDER_NAMES.filter((p) => report.providers[p].status === 'done').length;
  return done * 30;
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
      PROVIDER_NAMES.map((p) => [
        p,
        { status: report.providers[p].status, attempts: report.providers[p].attempts },
      ]),
    ),
  },
  files:
    report.status !== 'ready'
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
});
