export const REPORT_HTTP_OPTIONS = Symbol('ReportHttpOptions');

export type ReportHttpOptions = Readonly<{
  downloadUrlTtlSeconds: number;
  /** Comment line sent on an idle event stream so proxies keep it open. */
  heartbeatMs: number;
}>;
