import {
  ROOT_CONTEXT,
  type SpanContext,
  SpanStatusCode,
  type Tracer,
  context,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import type { SpanOptions, Tracing } from '../../application/ports/tracing.port.js';

/** W3C Trace Context, version 00: `00-<trace id>-<parent span id>-<flags>`, lower-case hex. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The remote span context a stored `traceparent` names; undefined when malformed or all-zero. */
export const parseTraceparent = (traceparent: string | undefined): SpanContext | undefined => {
  const match = TRACEPARENT.exec(traceparent ?? '');
  if (!match) return undefined;
  const spanContext: SpanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: Number.parseInt(match[3], 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
};

/** The `traceparent` header value of a span context. */
export const formatTraceparent = (spanContext: SpanContext): string =>
  `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;

/**
 * The Tracing port on the OpenTelemetry API. The API is a no-op until an SDK registers a tracer provider
 * (src/infrastructure/observability/tracing.ts, when an exporter is configured): then spans are recorded;
 * otherwise every call costs a few allocations. The stored `traceparent` is parsed here rather than by the
 * global propagator, so a different `OTEL_PROPAGATORS` never loses a report's trace.
 */
export class OtelTracing implements Tracing {
  private readonly tracer: Tracer = trace.getTracer('conflux');

  /** `enabled`: whether the preload started the SDK (tracingEnabled of this process' environment). */
  constructor(readonly enabled: boolean) {}

  inSpan<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T> {
    const stored = parseTraceparent(options.traceparent);
    const parent = stored ? trace.setSpanContext(ROOT_CONTEXT, stored) : context.active();
    return this.tracer.startActiveSpan(name, { attributes: options.attributes }, parent, async (span) => {
      try {
        return await fn();
      } catch (error) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.name : 'error',
        });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  detached<T>(fn: () => T): T {
    return context.with(ROOT_CONTEXT, fn);
  }

  activeTraceparent(): string | undefined {
    const spanContext = trace.getActiveSpan()?.spanContext();
    return spanContext && isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
  }
}
