/**
 * Whether spans are recorded in this process: an exporter is configured — an OTLP endpoint
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER` (e.g.
 * `console`) other than `none` — and `OTEL_SDK_DISABLED` is not `true`. The preload (tracing.ts) starts the
 * SDK on it; the Tracing adapter reads it too, so callers can skip per-item spans when nothing records.
 */
export const tracingEnabled = (env: NodeJS.ProcessEnv): boolean => {
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() ?? '';
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || exporter === 'none') return false;
  return Boolean(
    exporter || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim(),
  );
};
