import type { AuthUser } from '../auth/auth-user.js';
import { DomainError } from '../../domain/shared/decider.js';
import { TaxIdUnverified } from '../../domain/user/user.errors.js';

/** Owners see their reports; admins see every report of their tenant. Anyone else gets "not found". */
export const canSee = (caller: AuthUser, report: { tenantId: string; requestedBy: string }): boolean =>
  report.tenantId === caller.tenantId && (caller.role === 'admin' || report.requestedBy === caller.userId);

/**
 * Who may see whose money (api.md, Bodies): a member may request reports only about their own tax ID,
 * and only once a tenant admin has verified it — anyone can type anyone's tax ID at sign-up. `user` is
 * the caller's row read from the tenant database at request time, not a token claim, so a verification
 * (PATCH /v1/users/:id) counts at once, without a new login. Admins may name any subject.
 * Throws SubjectNotAllowed (403 `subject_forbidden`) or TaxIdUnverified (403 `tax_id_unverified`).
 */
export const assertMemberMayRequest = (
  user: Readonly<{ taxId?: string | null; taxIdVerified: boolean }>,
  taxId: string,
): void => {
  if (taxId !== user.taxId) throw new SubjectNotAllowed();
  if (!user.taxIdVerified) throw new TaxIdUnverified();
};

export class ReportNotVisible extends DomainError {
  constructor(readonly reportId: string) {
    super('report_not_found', `No report ${reportId}`);
  }
}

export class SubjectNotAllowed extends DomainError {
  constructor() {
    super('subject_forbidden', 'Only tenant admins may request a report about another subject');
  }
}

/** The caller has no tax id of their own (e.g. an admin created with the tenant) and named no subject. */
export class SubjectRequired extends DomainError {
  constructor() {
    super('subject_required', 'subject.taxId is required: your user has no tax id of its own');
  }
}

export class IdempotencyKeyInFlight extends DomainError {
  constructor() {
    super('idempotency_in_flight', 'A request with this Idempotency-Key is still being processed');
  }
}

export class IdempotencyKeyReused extends DomainError {
  constructor() {
    super('idempotency_mismatch', 'This Idempotency-Key was used with a different request body');
  }
}

export class FileNotFound extends DomainError {
  constructor(readonly fileName: string) {
    super('file_not_found', `The report has no file ${fileName}`);
  }
}

/** The report's files are past retention (FILE_RETENTION_DAYS): deleted, or about to be. */
export class FilesExpired extends DomainError {
  constructor(readonly fileName: string) {
    super('files_expired', `The file ${fileName} was deleted at the end of its retention.`);
  }
}

/** The user of a verified token is not in the tenant database (deleted since the token was issued): 401. */
export class CallerUnknown extends DomainError {
  constructor() {
    super('caller_unknown', 'The user of this access token no longer exists.');
  }
}
