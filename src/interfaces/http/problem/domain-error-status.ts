/**
 * The one table from a `DomainError` code to an HTTP status. A feature that adds a domain error adds
 * its code here; a code missing from the table answers 500 (and is logged), so a forgotten entry shows.
 */
export const DOMAIN_ERROR_STATUS: Readonly<Record<string, number>> = {
  // reports
  report_final: 409,
  report_not_found: 404,
  report_already_exists: 409,
  providers_not_done: 409,
  report_not_generating: 409,
  report_files_missing: 409,
  subject_forbidden: 403,
  subject_required: 400,
  file_not_found: 404,
  files_expired: 410,
  report_not_final: 409,
  /** A stored event this version cannot read (ADR 0014): a server-side fault, logged. */
  report_event_unreadable: 500,
  // idempotency (IETF Idempotency-Key draft)
  idempotency_in_flight: 409,
  idempotency_mismatch: 422,
  // tenancy
  tenant_already_exists: 409,
  tenant_database_exists: 409,
  tenant_not_found: 404,
  tenant_database_unusable: 422,
  tenant_database_unavailable: 503,
  tenant_database_in_use: 409,
  tenant_connections_exhausted: 503,
  tenant_database_reserved: 422,
  // users and auth
  username_taken: 409,
  invalid_credentials: 401,
  signup_disabled: 403,
  login_locked_out: 429,
  authentication_busy: 503,
  user_not_found: 404,
  last_admin: 409,
  tax_id_unverified: 403,
  caller_unknown: 401,
  // operations (issue 11)
  projection_not_found: 404,
  projection_not_rebuildable: 409,
  rebuild_running: 409,
  rebuild_not_found: 404,
  parked_event_not_found: 404,
  parked_event_still_failing: 409,
  parked_event_not_retryable: 409,
  // webhooks
  webhook_not_found: 404,
  webhook_delivery_not_found: 404,
  /** Answered as a 400 naming `url` by the controller; here for any other path that raises it. */
  webhook_url_refused: 400,
};
