/**
 * Tracing as the application sees it (OpenTelemetry behind it, ADR 0022). A report lives longer than any
 * one trace: its creating request's W3C `traceparent` is stored in event metadata and on scheduled work,
 * and every later step runs in a span that continues that trace.
 */
export const TRACING = Symbol('Tracing');

/** Span attributes: low-cardinality ids only (tenant, report, step, provider) — never a tax id or secret. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

export type SpanOptions = Readonly<{
  /**
   * W3C `traceparent` the span continues (child of that span, same trace id). Without it (or when it is
   * malformed) the span is a child of the active span, or the root of a new trace.
   */
  traceparent?: string;
  attributes: SpanAttributes;
}>;

export interface Tracing {
  /** False when nothing is recorded (no exporter): callers may then skip per-item spans they batch. */
  readonly enabled: boolean;
  /**
   * Runs `fn` inside a span named `name` and returns its result. The span ends when `fn` settles; a
   * rejection marks it as an error (the error is rethrown). Spans and outgoing calls made inside `fn`
   * (HTTP, PostgreSQL, Kafka) become its children.
   */
  inSpan<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T>;
  /** The `traceparent` of the active span; undefined when no span is active (e.g. tracing is off). */
  activeTraceparent(): string | undefined;
  /**
   * Runs `fn` outside any trace: a long-lived loop started while serving a request (a tenant's projection,
   * started by its creation) must not make its every query part of that request's trace.
   */
  detached<T>(fn: () => T): T;
}

/** Tracing off: runs the function, records nothing. */
export const noTracing: Tracing = {
  enabled: false,
  inSpan: (_name, _options, fn) => fn(),
  activeTraceparent: () => undefined,
  detached: (fn) => fn(),
};

/** Attribute names shared by every span of a report (the same keys as log fields, dotted). */
export const reportSpanAttributes = (tenantId: string, reportId: string): SpanAttributes => ({
  'conflux.tenant.id': tenantId,
  'conflux.report.id': reportId,
});
