import type { Decider } from '../shared/decider.js';
import { PROVIDER_NAMES, type Period, type ProviderName } from './provider-data.js';
import type { ProviderResult, ReportCommand, ReportFile, Subject } from './report.commands.js';
import {
  ProvidersNotDone,
  ReportAlreadyExists,
  ReportAlreadyFinal,
  ReportFilesMissing,
  ReportNotFinal,
  ReportNotFound,
  ReportNotGenerating,
} from './report.errors.js';
import type { ReportEvent } from './report.events.js';

export type ReportStatus =
  'initial' | 'pending' | 'running' | 'generating' | 'ready' | 'failed' | 'cancelled';
export type ProviderStatus = 'pending' | 'processing' | 'done' | 'failed';

/**
 * One provider's part of a report. `submittedAt` and `finishedAt` came later than the rest: read-model rows
 * stored before them lack them until the read model is rebuilt from the log (ADR 0023).
 */
export type ProviderProgress = Readonly<{
  status: ProviderStatus;
  /** Highest poll attempt scheduled so far (0: none). */
  attempts: number;
  jobId?: string;
  result?: ProviderResult;
  /** When the provider accepted the job (ProviderJobSubmitted). */
  submittedAt?: string;
  /** When the provider's part ended: its result recorded (ProviderResultRecorded) or its failure (ProviderFailed). */
  finishedAt?: string;
}>;

export type ReportError = Readonly<{ code: string; message: string; provider?: ProviderName }>;

/**
 * A report as the decider sees it. In the `initial` state (empty stream) only `status` is meaningful; the
 * other fields hold empty values so that the state is one plain shape.
 */
export type Report = Readonly<{
  status: ReportStatus;
  id: string;
  tenantId: string;
  requestedBy: string;
  subject: Subject;
  period: Period;
  providers: Readonly<Record<ProviderName, ProviderProgress>>;
  files: readonly ReportFile[];
  error: ReportError | null;
  requestedAt: string;
  /** Time carried by the latest event. */
  updatedAt: string;
  /** When the report reached a final state. */
  completedAt: string | null;
  /** From ReportGenerationStarted: the one `generatedAt` of the files, whichever generation writes them. */
  generationStartedAt: string | null;
  /** A ready report's files are deleted at this time (absent on reports made before retention existed). */
  retainedUntil: string | null;
  /** When retention deleted the report's objects (ReportFilesExpired). */
  filesExpiredAt: string | null;
}>;

export const FINAL_STATUSES: readonly ReportStatus[] = ['ready', 'failed', 'cancelled'];
export const isFinal = (status: ReportStatus): boolean => FINAL_STATUSES.includes(status);

/** The files without which a report is not ready (api.md: a ready report has all three). */
export const REQUIRED_FILES = ['transactions.csv', 'summary.json', 'summary.pdf'] as const;

const pendingProvider: ProviderProgress = { status: 'pending', attempts: 0 };

export const initialState = (): Report => ({
  status: 'initial',
  id: '',
  tenantId: '',
  requestedBy: '',
  subject: { taxId: '' },
  period: { from: '', to: '' },
  providers: {
    'bank-transactions': pendingProvider,
    'credit-bureau': pendingProvider,
    'tax-authority': pendingProvider,
  },
  files: [],
  error: null,
  requestedAt: '',
  updatedAt: '',
  completedAt: null,
  generationStartedAt: null,
  retainedUntil: null,
  filesExpiredAt: null,
});

export const decide = (command: ReportCommand, report: Report): ReportEvent[] => {
  // Retention is the one thing that happens to a final report: its status stays, its objects go.
  if (command.type === 'ExpireFiles') {
    if (report.status === 'initial') throw new ReportNotFound(command.data.reportId);
    if (!isFinal(report.status)) throw new ReportNotFinal(report.id, report.status);
    if (report.filesExpiredAt !== null) return []; // re-delivery: already expired
    return [{ type: 'ReportFilesExpired', data: command.data }];
  }
  // Final states never change, whatever the command (a late saga step, a double cancel, a re-request).
  if (isFinal(report.status)) throw new ReportAlreadyFinal(report.id, report.status);
  if (command.type === 'RequestReport') {
    if (report.status !== 'initial') throw new ReportAlreadyExists(report.id);
    return [{ type: 'ReportRequested', data: command.data }];
  }
  if (report.status === 'initial') throw new ReportNotFound(command.data.reportId);

  switch (command.type) {
    case 'RecordProviderJob':
      if (report.providers[command.data.provider].jobId !== undefined) return []; // re-delivery: job already known
      return [{ type: 'ProviderJobSubmitted', data: command.data }];

    case 'SchedulePoll': {
      const provider = report.providers[command.data.provider];
      if (provider.status === 'done' || provider.status === 'failed') return []; // nothing left to poll
      if (command.data.attempt <= provider.attempts) return []; // re-delivery of an attempt already scheduled
      return [{ type: 'ProviderPollScheduled', data: command.data }];
    }

    case 'RecordProviderResult':
      if (report.providers[command.data.provider].status === 'done') return []; // re-delivery: already recorded
      return [{ type: 'ProviderResultRecorded', data: command.data }];

    case 'RecordProviderFailure': {
      // A provider whose result is stored has answered: a late failure (e.g. a deadline timer that fired
      // after the result) must not throw away a report that can still be built.
      if (report.providers[command.data.provider].status === 'done') return [];
      const { reportId, provider, message, failedAt } = command.data;
      return [
        { type: 'ProviderFailed', data: command.data },
        { type: 'ReportFailed', data: { reportId, code: 'provider_failed', message, provider, failedAt } },
      ];
    }

    case 'StartGeneration': {
      if (report.status === 'generating') return []; // re-delivery
      const waitingFor = PROVIDER_NAMES.filter((name) => report.providers[name].status !== 'done');
      if (waitingFor.length > 0) throw new ProvidersNotDone(report.id, waitingFor);
      return [{ type: 'ReportGenerationStarted', data: command.data }];
    }

    case 'CompleteReport': {
      if (report.status !== 'generating') throw new ReportNotGenerating(report.id, report.status);
      const names = new Set(command.data.files.map((file) => file.name));
      const missing = REQUIRED_FILES.filter((name) => !names.has(name));
      if (missing.length > 0) throw new ReportFilesMissing(report.id, missing);
      return [{ type: 'ReportReady', data: command.data }];
    }

    case 'FailReport':
      return [{ type: 'ReportFailed', data: command.data }];

    case 'CancelReport':
      return [{ type: 'ReportCancelled', data: command.data }];
  }
};

const withProvider = (report: Report, name: ProviderName, change: Partial<ProviderProgress>): Report => ({
  ...report,
  providers: { ...report.providers, [name]: { ...report.providers[name], ...change } },
});

export const evolve = (report: Report, event: ReportEvent): Report => {
  switch (event.type) {
    case 'ReportRequested': {
      const { reportId, tenantId, requestedBy, subject, period, requestedAt } = event.data;
      return {
        ...initialState(),
        status: 'pending',
        id: reportId,
        tenantId,
        requestedBy,
        subject,
        period,
        requestedAt,
        updatedAt: requestedAt,
      };
    }
    case 'ProviderJobSubmitted': {
      const { provider, jobId, submittedAt } = event.data;
      const next = withProvider(report, provider, { status: 'processing', jobId, submittedAt });
      return {
        ...next,
        status: report.status === 'pending' ? 'running' : report.status,
        updatedAt: submittedAt,
      };
    }
    case 'ProviderPollScheduled':
      return {
        ...withProvider(report, event.data.provider, { attempts: event.data.attempt }),
        updatedAt: event.data.scheduledAt,
      };
    case 'ProviderResultRecorded':
      return {
        ...withProvider(report, event.data.provider, {
          status: 'done',
          result: event.data.result,
          finishedAt: event.data.recordedAt,
        }),
        updatedAt: event.data.recordedAt,
      };
    case 'ProviderFailed':
      return {
        ...withProvider(report, event.data.provider, { status: 'failed', finishedAt: event.data.failedAt }),
        updatedAt: event.data.failedAt,
      };
    case 'ReportGenerationStarted':
      return {
        ...report,
        status: 'generating',
        updatedAt: event.data.startedAt,
        generationStartedAt: event.data.startedAt,
      };
    case 'ReportReady':
      return {
        ...report,
        status: 'ready',
        files: event.data.files,
        updatedAt: event.data.completedAt,
        completedAt: event.data.completedAt,
        retainedUntil: event.data.retainedUntil ?? null,
      };
    case 'ReportFailed': {
      const { code, message, provider, failedAt } = event.data;
      return {
        ...report,
        status: 'failed',
        error: provider === undefined ? { code, message } : { code, message, provider },
        updatedAt: failedAt,
        completedAt: failedAt,
      };
    }
    case 'ReportCancelled':
      return {
        ...report,
        status: 'cancelled',
        updatedAt: event.data.cancelledAt,
        completedAt: event.data.cancelledAt,
      };
    case 'ReportFilesExpired':
      return { ...report, files: [], filesExpiredAt: event.data.expiredAt, updatedAt: event.data.expiredAt };
  }
};

export const reportDecider: Decider<Report, ReportCommand, ReportEvent> = { decide, evolve, initialState };
