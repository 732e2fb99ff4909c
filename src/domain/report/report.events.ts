import type { Message } from '../shared/decider.js';
import type { Period, ProviderName } from './provider-data.js';

/**
 * Facts about a report, in the past tense: the persisted contract of the log, declared here on their own
 * (not as aliases of command payloads), so that renaming a command field cannot silently change what is
 * stored. Events carry `data` only (ids, times, keys, counts, hashes): large data never goes into an event.
 * Times are ISO-8601 UTC strings. The parsing schemas of every version live with the readers
 * (application/report/report-event-codec.ts), checked against these types at compile time.
 *
 * Version convention: an unsuffixed type (`ReportRequested`) is version 1. Adding an optional field needs
 * no new version. A breaking change introduces `ReportRequestedV2`, written from then on; the old shape
 * stays declared here as a legacy type in {@link StoredReportEvent} and {@link upcast} maps it to V2, so
 * `decide`/`evolve` only ever see the latest shapes.
 */
export type ReportRequestedV1 = Message<
  'ReportRequested',
  Readonly<{
    reportId: string;
    tenantId: string;
    requestedBy: string;
    subject: Readonly<{ taxId: string }>;
    period: Period;
    requestedAt: string;
  }>
>;
export type ProviderJobSubmittedV1 = Message<
  'ProviderJobSubmitted',
  Readonly<{ reportId: string; provider: ProviderName; jobId: string; submittedAt: string }>
>;
export type ProviderPollScheduledV1 = Message<
  'ProviderPollScheduled',
  Readonly<{
    reportId: string;
    provider: ProviderName;
    /** 1-based and increasing per provider; a repeated attempt number is a re-delivery. */
    attempt: number;
    dueAt: string;
    scheduledAt: string;
    reason: 'submitted' | 'processing' | 'retry';
  }>
>;
export type ProviderResultRecordedV1 = Message<
  'ProviderResultRecorded',
  Readonly<{
    reportId: string;
    provider: ProviderName;
    /** Claim check: the raw result is in object storage under `key`. */
    result: Readonly<{ key: string; rows: number; bytes: number; sha256: string }>;
    recordedAt: string;
  }>
>;
export type ProviderFailedV1 = Message<
  'ProviderFailed',
  Readonly<{ reportId: string; provider: ProviderName; code: string; message: string; failedAt: string }>
>;
export type ReportGenerationStartedV1 = Message<
  'ReportGenerationStarted',
  Readonly<{ reportId: string; startedAt: string }>
>;
export type ReportReadyV1 = Message<
  'ReportReady',
  Readonly<{
    reportId: string;
    files: readonly Readonly<{
      name: string;
      contentType: string;
      key: string;
      rows?: number;
      bytes: number;
      sha256: string;
    }>[];
    completedAt: string;
    /** When the files (and stored provider results) are deleted: completedAt + FILE_RETENTION_DAYS. */
    retainedUntil?: string;
  }>
>;
/** `provider` is named when one provider made the report fail. */
export type ReportFailedV1 = Message<
  'ReportFailed',
  Readonly<{ reportId: string; code: string; message: string; provider?: ProviderName; failedAt: string }>
>;
export type ReportCancelledV1 = Message<
  'ReportCancelled',
  Readonly<{ reportId: string; cancelledBy: string; cancelledAt: string }>
>;
/** Retention ended: every object of the final report (files, provider results, partial writes) is deleted. */
export type ReportFilesExpiredV1 = Message<
  'ReportFilesExpired',
  Readonly<{ reportId: string; expiredAt: string }>
>;

/** The current version of each event: what the decider writes and what readers get after upcasting. */
export type ReportRequested = ReportRequestedV1;
export type ProviderJobSubmitted = ProviderJobSubmittedV1;
export type ProviderPollScheduled = ProviderPollScheduledV1;
export type ProviderResultRecorded = ProviderResultRecordedV1;
export type ProviderFailed = ProviderFailedV1;
export type ReportGenerationStarted = ReportGenerationStartedV1;
export type ReportReady = ReportReadyV1;
export type ReportFailed = ReportFailedV1;
export type ReportCancelled = ReportCancelledV1;
export type ReportFilesExpired = ReportFilesExpiredV1;

export type ReportEvent =
  | ReportRequested
  | ProviderJobSubmitted
  | ProviderPollScheduled
  | ProviderResultRecorded
  | ProviderFailed
  | ReportGenerationStarted
  | ReportReady
  | ReportFailed
  | ReportCancelled
  | ReportFilesExpired;

export type ReportEventType = ReportEvent['type'];

/** Every shape ever written to a report stream, current and legacy; today all are version 1. */
export type StoredReportEvent = ReportEvent;

/**
 * Brings a parsed stored event up to the current shape; every reader (fold, projections, saga) gets events
 * through it, so old shapes are upcast on read and never rewritten. Parsing (is it a report event at all,
 * are its fields well formed) happens before, in the reader's codec. Today every shape is version 1: identity.
 */
export const upcast = (event: StoredReportEvent): ReportEvent => event;
