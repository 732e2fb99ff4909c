import type { Message } from '../shared/decider.js';
import type { Period, ProviderName } from './provider-data.js';

/**
 * What can be asked of a report. Times (ISO-8601 UTC strings) and ids arrive inside the command: the
 * decider has no clock and mints no ids, so replaying a command gives the same events.
 */
export type Subject = Readonly<{ taxId: string }>;

/** A provider's raw result, stored in object storage (claim check): only its key, size and hash travel. */
export type ProviderResult = Readonly<{ key: string; rows: number; bytes: number; sha256: string }>;

/** One generated file of a ready report; `rows` counts data rows (CSV header excluded). */
export type ReportFile = Readonly<{
  name: string;
  contentType: string;
  key: string;
  rows?: number;
  bytes: number;
  sha256: string;
}>;

export type PollReason = 'submitted' | 'processing' | 'retry';

export type RequestReport = Message<
  'RequestReport',
  {
    reportId: string;
    tenantId: string;
    requestedBy: string;
    subject: Subject;
    period: Period;
    requestedAt: string;
  }
>;

export type RecordProviderJob = Message<
  'RecordProviderJob',
  { reportId: string; provider: ProviderName; jobId: string; submittedAt: string }
>;

export type SchedulePoll = Message<
  'SchedulePoll',
  {
    reportId: string;
    provider: ProviderName;
    /** 1-based and increasing per provider; a repeated attempt number is a re-delivery. */
    attempt: number;
    dueAt: string;
    scheduledAt: string;
    reason: PollReason;
  }
>;

export type RecordProviderResult = Message<
  'RecordProviderResult',
  { reportId: string; provider: ProviderName; result: ProviderResult; recordedAt: string }
>;

export type RecordProviderFailure = Message<
  'RecordProviderFailure',
  { reportId: string; provider: ProviderName; code: string; message: string; failedAt: string }
>;

export type StartGeneration = Message<'StartGeneration', { reportId: string; startedAt: string }>;

export type CompleteReport = Message<
  'CompleteReport',
  { reportId: string; files: readonly ReportFile[]; completedAt: string; retainedUntil?: string }
>;

export type FailReport = Message<
  'FailReport',
  { reportId: string; code: string; message: string; provider?: ProviderName; failedAt: string }
>;

export type CancelReport = Message<
  'CancelReport',
  { reportId: string; cancelledBy: string; cancelledAt: string }
>;

/** Retention ended: the report's objects are deleted (the process manager does it, then says so). */
export type ExpireFiles = Message<'ExpireFiles', { reportId: string; expiredAt: string }>;

export type ReportCommand =
  | RequestReport
  | RecordProviderJob
  | SchedulePoll
  | RecordProviderResult
  | RecordProviderFailure
  | StartGeneration
  | CompleteReport
  | FailReport
  | CancelReport
  | ExpireFiles;
