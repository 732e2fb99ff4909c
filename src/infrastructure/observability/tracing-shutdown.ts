let stop: (() => Promise<void>) | undefined;

/** Called by the tracing preload once the SDK runs: what `shutdownTracing` will call. */
export const onTracingShutdown = (fn: () => Promise<void>): void => {
  stop = fn;
};

/**
 * Exports the spans still buffered and stops the SDK (main calls it last on shutdown: `process.exit`
 * would drop them). A no-op when tracing is off. Never rejects: losing telemetry never fails a shutdown.
 */
export const shutdownTracing = async (): Promise<void> => {
  await stop?.().catch(() => undefined);
};
