import { DomainError } from '../shared/decider.js';

/**
 * The report's rule violations. Each `code` is stable: the HTTP error mapper and the saga switch on it,
 * never on the message.
 */
export class ReportNotFound extends DomainError {
  constructor(readonly reportId: string) {
    super('report_not_found', `Report ${reportId} was never requested`);
  }
}

export class ReportAlreadyExists extends DomainError {
  constructor(readonly reportId: string) {
    super('report_already_exists', `Report ${reportId} already exists`);
  }
}

/** A final report (ready, failed, cancelled) never changes: HTTP answers 409, the saga drops the command. */
export class ReportAlreadyFinal extends DomainError {
  constructor(
    readonly reportId: string,
    readonly status: string,
  ) {
    super('report_final', `Report ${reportId} is already ${status}`);
  }
}

/** Only a final report's objects can expire: a running one still writes them. */
export class ReportNotFinal extends DomainError {
  constructor(
    readonly reportId: string,
    readonly status: string,
  ) {
    super('report_not_final', `Report ${reportId} is ${status}: its files cannot expire yet`);
  }
}

export class ProvidersNotDone extends DomainError {
  constructor(
    readonly reportId: string,
    readonly waitingFor: readonly string[],
  ) {
    super('providers_not_done', `Report ${reportId} still waits for ${waitingFor.join(', ')}`);
  }
}

export class ReportNotGenerating extends DomainError {
  constructor(
    readonly reportId: string,
    readonly status: string,
  ) {
    super('report_not_generating', `Report ${reportId} is ${status}, not generating`);
  }
}

export class ReportFilesMissing extends DomainError {
  constructor(
    readonly reportId: string,
    readonly missing: readonly string[],
  ) {
    super('report_files_missing', `Report ${reportId} cannot be ready without ${missing.join(', ')}`);
  }
}

/**
 * A stored event of a report stream that this version cannot read: an unknown type (a newer version
 * wrote it during a rolling deploy) or a malformed field. A command on that report fails with it rather
 * than deciding on a state that skipped a fact (ADR 0014); subscriptions park the event.
 */
export class ReportEventUnreadable extends DomainError {
  constructor(
    readonly streamName: string,
    readonly revision: number,
    readonly eventType: string,
    readonly reason: string,
  ) {
    super(
      'report_event_unreadable',
      `Event ${eventType} at revision ${revision} of ${streamName} cannot be read: ${reason}`,
    );
  }
}
