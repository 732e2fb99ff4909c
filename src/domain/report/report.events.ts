import type { Message } from '../shared/decider.js';
import type {
  CancelReport,
  CompleteReport,
  FailReport,
  RecordProviderFailure,
  RecordProviderJob,
  RecordProviderResult,
  RequestReport,
  SchedulePoll,
  StartGeneration,
} from './report.commands.js';

/**
 * Facts about a report, in the past tense. Events carry `data` only (ids, times, keys, counts, hashes):
 * large data never goes into an event.
 */
export type ReportRequested = Message<'ReportRequested', RequestReport['data']>;
export type ProviderJobSubmitted = Message<'ProviderJobSubmitted', RecordProviderJob['data']>;
export type ProviderPollScheduled = Message<'ProviderPollScheduled', SchedulePoll['data']>;
export type ProviderResultRecorded = Message<'ProviderResultRecorded', RecordProviderResult['data']>;
export type ProviderFailed = Message<'ProviderFailed', RecordProviderFailure['data']>;
export type ReportGenerationStarted = Message<'ReportGenerationStarted', StartGeneration['data']>;
export type ReportReady = Message<'ReportReady', CompleteReport['data']>;
/** `provider` is named when one provider made the report fail. */
export type ReportFailed = Message<'ReportFailed', FailReport['data']>;
export type ReportCancelled = Message<'ReportCancelled', CancelReport['data']>;

export type ReportEvent =
  | ReportRequested
  | ProviderJobSubmitted
  | ProviderPollScheduled
  | ProviderResultRecorded
  | ProviderFailed
  | ReportGenerationStarted
  | ReportReady
  | ReportFailed
  | ReportCancelled;

export type ReportEventType = ReportEvent['type'];

/**
 * Brings a stored event up to the current shape; every reader (fold, projections, saga) calls it on what
 * it reads, so old shapes are upcast on read and never rewritten.
 *
 * Version convention: an unsuffixed type (`ReportRequested`) is version 1. Adding an optional field needs
 * no new version. A breaking change introduces `ReportRequestedV2`, which is written from then on; the old
 * shape stays declared here as a legacy type (`type: 'ReportRequested'`) and this function maps it to V2,
 * so `decide`/`evolve` only ever see the latest shapes. Today every shape is version 1: identity.
 */
export const upcast = (event: Readonly<{ type: string; data: unknown }>): ReportEvent => event as ReportEvent;
