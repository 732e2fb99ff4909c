import { z } from 'zod';
import { PROVIDER_NAMES } from '../../domain/report/provider-data.js';
import { ReportEventUnreadable } from '../../domain/report/report.errors.js';
import { type ReportEvent, type StoredReportEvent, upcast } from '../../domain/report/report.events.js';
import { type RecordedEvent, categoryOf, streamNameFor } from '../ports/event-store.port.js';

/**
 * The parsing schemas of every stored report event version (the types are declared in the domain,
 * report.events.ts). Every reader of a report stream goes through {@link readReportEvent}: parse, then
 * upcast — never a cast, so an unknown type or a malformed field is an error where it is read, not a
 * crash (or a silently wrong state) further on.
 */
const timestamp = z.iso.datetime({ offset: true });
const provider = z.enum(PROVIDER_NAMES);
const reportId = z.string().min(1);

const schemas = {
  ReportRequested: z.object({
    reportId,
    tenantId: z.string().min(1),
    requestedBy: z.string().min(1),
    subject: z.object({ taxId: z.string().min(1) }),
    period: z.object({ from: z.iso.date(), to: z.iso.date() }),
    requestedAt: timestamp,
  }),
  ProviderJobSubmitted: z.object({ reportId, provider, jobId: z.string().min(1), submittedAt: timestamp }),
  ProviderPollScheduled: z.object({
    reportId,
    provider,
    attempt: z.int().positive(),
    dueAt: timestamp,
    scheduledAt: timestamp,
    reason: z.enum(['submitted', 'processing', 'retry']),
  }),
  ProviderResultRecorded: z.object({
    reportId,
    provider,
    result: z.object({
      key: z.string().min(1),
      rows: z.int().nonnegative(),
      bytes: z.int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
    recordedAt: timestamp,
  }),
  ProviderFailed: z.object({
    reportId,
    provider,
    code: z.string(),
    message: z.string(),
    failedAt: timestamp,
  }),
  ReportGenerationStarted: z.object({ reportId, startedAt: timestamp }),
  ReportReady: z.object({
    reportId,
    files: z.array(
      z.object({
        name: z.string().min(1),
        contentType: z.string().min(1),
        key: z.string().min(1),
        rows: z.int().nonnegative().optional(),
        bytes: z.int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    ),
    completedAt: timestamp,
    retainedUntil: timestamp.optional(),
  }),
  ReportFailed: z.object({
    reportId,
    code: z.string(),
    message: z.string(),
    provider: provider.optional(),
    failedAt: timestamp,
  }),
  ReportCancelled: z.object({ reportId, cancelledBy: z.string().min(1), cancelledAt: timestamp }),
  ReportFilesExpired: z.object({ reportId, expiredAt: timestamp }),
} satisfies { [T in StoredReportEvent['type']]: z.ZodType };

// Compile-time: each schema parses exactly the domain's declared shape, in both directions.
type DataOf<T extends StoredReportEvent['type']> = Extract<StoredReportEvent, { type: T }>['data'];
type Frozen<T> = T extends object ? { readonly [K in keyof T]: Frozen<T[K]> } : T;
type Same<A, B> = [Frozen<A>] extends [Frozen<B>] ? ([Frozen<B>] extends [Frozen<A>] ? true : false) : false;
const sameShapes: { [T in keyof typeof schemas]: Same<z.output<(typeof schemas)[T]>, DataOf<T>> } = {
  ReportRequested: true,
  ProviderJobSubmitted: true,
  ProviderPollScheduled: true,
  ProviderResultRecorded: true,
  ProviderFailed: true,
  ReportGenerationStarted: true,
  ReportReady: true,
  ReportFailed: true,
  ReportCancelled: true,
  ReportFilesExpired: true,
};
void sameShapes;

const isStoredType = (type: string): type is keyof typeof schemas => Object.hasOwn(schemas, type);

/**
 * A recorded report event as the current domain event. Throws ReportEventUnreadable (naming the stream,
 * revision, type and the failing fields) for an unknown type, data that does not parse, or metadata and data
 * that name another tenant or report than the event's stream.
 */
export const readReportEvent = (recorded: RecordedEvent): ReportEvent => {
  const unreadable = (reason: string) =>
    new ReportEventUnreadable(recorded.streamName, recorded.revision, recorded.type, reason);
  if (!isStoredType(recorded.type)) throw unreadable('unknown event type');
  const parsed = schemas[recorded.type].safeParse(recorded.data);
  if (!parsed.success)
    throw unreadable(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`).join('; '),
    );
  // Readers take the tenant from the metadata (the scheduled work, the store's tenant filter) and the
  // report from the data: both must name the event's own stream, or its effects land on another tenant's
  // or another report's rows.
  const tenantId = recorded.metadata.tenantId as unknown;
  const { reportId } = parsed.data;
  const dataTenant = 'tenantId' in parsed.data ? parsed.data.tenantId : undefined;
  const mismatch = [
    typeof tenantId !== 'string' || tenantId.length === 0
      ? 'metadata.tenantId: expected the tenant of the stream'
      : categoryOf(recorded.streamName) === '' ||
          !recorded.streamName.startsWith(`${categoryOf(recorded.streamName)}-${tenantId}.`)
        ? `metadata.tenantId: ${tenantId} is not the stream's tenant`
        : recorded.streamName !== streamNameFor(categoryOf(recorded.streamName), tenantId, reportId)
          ? `reportId: ${reportId} is not the stream's report`
          : undefined,
    dataTenant !== undefined && dataTenant !== tenantId
      ? `tenantId: ${dataTenant} is not the stream's tenant`
      : undefined,
  ].filter((reason): reason is string => reason !== undefined);
  if (mismatch.length > 0) throw unreadable(mismatch.join('; '));
  return upcast({ type: recorded.type, data: parsed.data } as StoredReportEvent);
};
