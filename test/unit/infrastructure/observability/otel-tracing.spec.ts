import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Writable } from 'node:stream';
import { createLogger } from '../../../../src/infrastructure/logging/pino-logger.js';
import {
  OtelTracing,
  formatTraceparent,
  parseTraceparent,
} from '../../../../src/infrastructure/observability/otel-tracing.js';
import {
  redactProviderPath,
  sanitizeSql,
} from '../../../../src/infrastructure/observability/start-tracing.js';
import { tracingEnabled } from '../../../../src/infrastructure/observability/tracing-enabled.js';

const STORED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('OtelTracing (in-memory span exporter)', () => {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
    resourceDetectors: [],
  });
  const tracing = new OtelTracing(true);

  beforeAll(() => sdk.start());
  afterAll(() => sdk.shutdown());
  beforeEach(() => exporter.reset());

  it('continues the stored trace: a step is a child of the stored span, nested calls children of the step', async () => {
    await tracing.inSpan(
      'report step bank-transactions',
      { traceparent: STORED, attributes: { a: 'b' } },
      () => tracing.inSpan('provider submit', { attributes: {} }, async () => undefined),
    );
    const [inner, outer] = exporter.getFinishedSpans();
    expect(outer.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(outer.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(outer.attributes).toEqual({ a: 'b' });
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(inner.spanContext().traceId).toBe(outer.spanContext().traceId);
  });

  it('starts a new trace when the stored traceparent is missing or malformed', async () => {
    await tracing.inSpan('x', { traceparent: '00-zz-01', attributes: {} }, async () => undefined);
    const [span] = exporter.getFinishedSpans();
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
  });

  it('marks a failed step as an error with the error name only, and rethrows', async () => {
    const failure = Object.assign(new Error('subject TAX-1 rejected'), { name: 'ProviderRejectedError' });
    await expect(tracing.inSpan('x', { attributes: {} }, () => Promise.reject(failure))).rejects.toBe(
      failure,
    );
    const [span] = exporter.getFinishedSpans();
    expect(span.status).toEqual({ code: 2, message: 'ProviderRejectedError' });
    expect(JSON.stringify(span.events)).not.toContain('TAX-1');
  });

  it('reports the active span as a traceparent (the POST stores it), and none outside a span', async () => {
    expect(tracing.activeTraceparent()).toBeUndefined();
    const inside = await tracing.inSpan('x', { traceparent: STORED, attributes: {} }, async () =>
      tracing.activeTraceparent(),
    );
    expect(inside).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(inside).toBe(formatTraceparent(exporter.getFinishedSpans()[0].spanContext()));
  });

  it('runs detached work outside the active trace', async () => {
    const seen = await tracing.inSpan('request', { attributes: {} }, async () =>
      tracing.detached(() => tracing.activeTraceparent()),
    );
    expect(seen).toBeUndefined();
  });

  it('puts trace_id and span_id on log lines written inside a span, and nothing outside', async () => {
    const lines: string[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    logger.info('outside');
    await tracing.inSpan('x', { traceparent: STORED, attributes: {} }, async () => logger.info('inside'));
    const [outside, inside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(outside).not.toHaveProperty('trace_id');
    expect(inside).toMatchObject({ trace_id: '0af7651916cd43dd8448eb211c80319c' });
    expect(inside.span_id).toBe(exporter.getFinishedSpans()[0].spanContext().spanId);
  });
});

describe('trace context and redaction helpers', () => {
  it('parses only valid version-00 traceparents', () => {
    expect(parseTraceparent(STORED)).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      traceFlags: 1,
    });
    expect(parseTraceparent(`00-${'0'.repeat(32)}-b7ad6b7169203331-01`)).toBeUndefined();
    expect(parseTraceparent('00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01')).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
  });

  it('keeps SQL text without its string literals', () => {
    expect(sanitizeSql(`INSERT INTO reports VALUES ('r1', '{"taxId":"TAX-1"}', 'it''s', 3)`)).toBe(
      'INSERT INTO reports VALUES (?, ?, ?, 3)',
    );
  });

  it('keeps provider job ids and query strings out of recorded paths', () => {
    expect(redactProviderPath('/bank-transactions/jobs/eyJ2Ijox.abc/result?x=1')).toBe(
      '/bank-transactions/jobs/{jobId}/result',
    );
    expect(redactProviderPath('/v1/reports')).toBe('/v1/reports');
  });

  it('turns tracing on only with an exporter configured, unless disabled', () => {
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(
      true,
    );
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBe(
      false,
    );
    expect(
      tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }),
    ).toBe(false);
  });
});
