/**
 * The tracing preload: `node --import ./dist/src/infrastructure/observability/tracing.js dist/src/main.js`.
 * It must run before the application's modules load, so the instrumented libraries (pg, kafkajs through
 * the ESM loader hook; http through require; undici through diagnostics channels) are patched when first
 * imported (ADR 0022).
 *
 * Tracing is on only when an exporter is configured — an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER` (e.g. `console`) other than `none` — and
 * `OTEL_SDK_DISABLED` is not `true` (tracing-enabled.ts). Off, it loads no SDK and registers no hook.
 */
import { tracingEnabled } from './tracing-enabled.js';

if (tracingEnabled(process.env)) {
  const [{ startTracing }, { onTracingShutdown }] = await Promise.all([
    import('./start-tracing.js'),
    import('./tracing-shutdown.js'),
  ]);
  onTracingShutdown(await startTracing());
}
