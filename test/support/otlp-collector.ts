import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/HTTP JSON carries it (ids in hex), with its attributes flattened and its scope. */
export type CollectedSpan = Readonly<{
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  scope: string;
  attributes: Readonly<Record<string, unknown>>;
  /** The whole span as received, to search for what must never be in it. */
  raw: string;
}>;

type OtlpValue = Record<string, unknown>;
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: OtlpValue }[];
};
type OtlpRequest = {
  resourceSpans?: { scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[] }[];
};

export type OtlpCollector = Readonly<{
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (with OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json). */
  url: string;
  spans: () => readonly CollectedSpan[];
  close: () => Promise<void>;
}>;

/**
 * A minimal OTLP/HTTP JSON trace receiver keeping every span in memory: the test's end of the real
 * exporter a child process runs (`POST /v1/traces`).
 */
export const startOtlpCollector = async (): Promise<OtlpCollector> => {
  const received: CollectedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest;
        for (const resource of body.resourceSpans ?? [])
          for (const scope of resource.scopeSpans ?? [])
            for (const span of scope.spans ?? [])
              received.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId || undefined,
                name: span.name,
                kind: span.kind,
                scope: scope.scope?.name ?? '',
                attributes: Object.fromEntries(
                  (span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]),
                ),
                raw: JSON.stringify(span),
              });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => received,
    close: () => new Promise<void>((closed) => server.close(() => closed())),
  };
};
