import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import {
  type RunningProviderSimulator,
  startProviderSimulator,
} from '../../../src/infrastructure/provider-simulator/provider-simulator.js';
import { clusterUrl, createTestDatabase } from '../../support/database.js';
import { collectTopic, kafkaSkipReason, sharedKafka } from '../../support/kafka.js';
import { compiledServerEnv, type NodeProcess, startNodeProcess } from '../../support/node-process.js';
import { type CollectedSpan, type OtlpCollector, startOtlpCollector } from '../../support/otlp-collector.js';
import { query } from '../../support/test-app.js';
import { WebhookReceiver } from '../../support/webhook-receiver.js';
import { waitUntil } from '../../support/wait-until.js';

/**
 * The compiled server started as `npm start` starts it (the tracing preload), exporting to an in-memory
 * OTLP receiver: one report, from POST to ready, is one trace — the request's server span, then every
 * worker step, provider call (and its HTTP client span) and the file stage in it, each with the tenant and
 * report ids, and never the subject's tax id or a provider job id (the simulator's encode the tax id) —
 * and, with the test run's Kafka broker, the relay's publish and the message's `traceparent` in it too.
 */
const MAIN = 'dist/src/main.js';
const PRELOAD = './dist/src/infrastructure/observability/tracing.js';

describe('one trace per report (OpenTelemetry, compiled server, e2e)', () => {
  let control: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let simulator: RunningProviderSimulator;
  let collector: OtlpCollector;
  let receiver: WebhookReceiver;
  let conflux: NodeProcess | undefined;
  let base = '';
  const tenantId = `t${randomBytes(5).toString('hex')}`;
  const operatorToken = randomBytes(24).toString('base64url');
  const taxId = `TRACE-${randomBytes(4).toString('hex').toUpperCase()}`;
  const topic = `conflux.trace.${randomBytes(4).toString('hex')}`;
  let brokers: string | undefined;
  /** The report of the first test and its trace, for the Kafka test after it. */
  let traced: { reportId: string; traceId: string } | undefined;

  const api = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: npm test builds it first (pretest)`);
    control = await createTestDatabase('conflux_trace');
    dataDir = await mkdtemp(join(tmpdir(), 'conflux-trace-'));
    simulator = await startProviderSimulator({ port: 0, transactions: 40, latencyMs: 300, seed: 3 });
    collector = await startOtlpCollector();
    receiver = await new WebhookReceiver().start();
    if (!kafkaSkipReason) brokers = await sharedKafka();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    conflux = await startNodeProcess(
      MAIN,
      compiledServerEnv(
        {
          port,
          dataDir,
          databaseUrl: control.url,
          operatorToken,
          providersUrl: simulator.url,
          logLevel: 'info',
        },
        {
          POLL_BACKOFF_BASE_MS: '100',
          WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
          OTEL_BSP_SCHEDULE_DELAY: '100',
          ...(brokers ? { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic } : {}),
        },
      ),
      'Conflux listening',
      undefined,
      ['--import', PRELOAD],
    );
  }, 240_000);

  afterAll(async () => {
    await conflux?.kill('SIGTERM');
    await simulator?.close();
    await collector?.close();
    await receiver?.stop();
    await query(clusterUrl(), `DROP DATABASE IF EXISTS "conflux_tenant_${tenantId}" WITH (FORCE)`).catch(
      () => undefined,
    );
    await control?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('links the worker, provider calls and the file stage to the creating request, with ids but no tax id', async () => {
    const created = await api('POST', '/v1/tenants', operatorToken, {
      id: tenantId,
      name: 'Trace Bank',
      admin: { username: 'root', password: 'root-password-1' },
    });
    expect(created.status).toBe(201);
    const token = (
      await api('POST', '/v1/auth/login', '', { tenantId, username: 'root', password: 'root-password-1' })
    ).body.accessToken as string;
    const hook = await api('POST', '/v1/webhooks', token, {
      url: `${receiver.url}/hook`,
      events: ['report.ready'],
    });
    expect(hook.status).toBe(201);
    const report = await api('POST', '/v1/reports', token, { subject: { taxId } });
    expect(report.status).toBe(202);
    const reportId = report.body.id as string;
    await waitUntil(
      'the report is ready',
      async () => (await api('GET', `/v1/reports/${reportId}`, token)).body.status === 'ready',
      120_000,
      100,
    );
    const ofReport = (): CollectedSpan[] =>
      collector.spans().filter((s) => s.attributes['conflux.report.id'] === reportId);
    await waitUntil('the file stage and webhook spans are exported', () =>
      ['report generate-files', 'webhook deliver'].every((name) => ofReport().some((s) => s.name === name)),
    );

    // The request's own server span: the stored traceparent is its context.
    const post = collector
      .spans()
      .find(
        (s) =>
          s.scope === '@opentelemetry/instrumentation-http' &&
          s.attributes['http.request.method'] === 'POST' &&
          s.attributes['url.path'] === '/v1/reports',
      );
    expect(post).toBeDefined();
    expect(post!.name).toBe('POST /v1/reports');
    expect(post!.attributes['http.route']).toBe('/v1/reports');
    const traceId = post!.traceId;
    traced = { reportId, traceId };
    const [requested] = await query<{ metadata: { traceparent?: string } }>(
      control.url,
      `SELECT metadata FROM events WHERE type = 'ReportRequested' AND stream_name LIKE $1`,
      [`%.${reportId}`],
    );
    expect(requested?.metadata.traceparent).toBe(`00-${traceId}-${post!.spanId}-01`);

    const spans = ofReport();
    const names = new Set(spans.map((s) => s.name));
    for (const name of [
      'report step bank-transactions',
      'report step credit-bureau',
      'report step tax-authority',
      'report step generation',
      'provider submit',
      'provider poll',
      'provider fetch',
      'report generate-files',
      'webhook deliver',
    ])
      expect(names).toContain(name);
    for (const span of spans) {
      expect(span.traceId).toBe(traceId);
      expect(span.attributes['conflux.tenant.id']).toBe(tenantId);
    }
    // Every step hangs off the POST's span; each provider call's HTTP client span is its child.
    for (const step of spans.filter((s) => s.name.startsWith('report step ')))
      expect(step.parentSpanId).toBe(post!.spanId);
    const calls = spans.filter((s) => s.name.startsWith('provider '));
    for (const call of calls)
      expect(
        collector.spans().some((s) => s.parentSpanId === call.spanId && s.scope.includes('undici')),
      ).toBe(true);

    // Nothing of the trace names the subject: not the tax id, not a provider job id (it encodes it).
    const jobs = await query<{ data: { jobId: string } }>(
      control.url,
      `SELECT data FROM events WHERE type = 'ProviderJobSubmitted' AND stream_name LIKE $1`,
      [`%.${reportId}`],
    );
    expect(jobs).toHaveLength(3);
    // The webhook request carries the report's trace to the receiver.
    expect(receiver.at('/hook')[0]?.headers.traceparent).toMatch(
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`),
    );
    const trace = collector.spans().filter((s) => s.traceId === traceId);
    expect(trace.some((s) => s.scope.includes('pg'))).toBe(true);
    for (const span of trace) {
      expect(span.raw).not.toContain(taxId);
      for (const job of jobs) expect(span.raw).not.toContain(job.data.jobId);
    }

    // The POST's log line carries the trace: logs lead to the trace and back.
    expect(conflux!.output()).toMatch(
      new RegExp(`"trace_id":"${traceId}"[^\\n]*"route":"/v1/reports"[^\\n]*"status":202`),
    );
  }, 240_000);

  (kafkaSkipReason ? it.skip : it)(
    `publishes the Kafka message in the report's trace${kafkaSkipReason ? ` (skipped: ${kafkaSkipReason})` : ''}`,
    async () => {
      const { reportId, traceId } = traced!;
      const consumer = await collectTopic(brokers!, topic);
      try {
        await waitUntil(
          'the report is on Kafka',
          () => consumer.messages.some((m) => m.key === reportId),
          60_000,
        );
        const message = consumer.messages.find((m) => m.key === reportId)!;
        // The message's traceparent continues the report's trace (the kafkajs producer span's context).
        expect(message.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));
        await waitUntil('the relay span is exported', () =>
          collector
            .spans()
            .some((s) => s.name === 'relay publish' && s.attributes['conflux.report.id'] === reportId),
        );
        const publish = collector
          .spans()
          .find((s) => s.name === 'relay publish' && s.attributes['conflux.report.id'] === reportId)!;
        expect(publish.traceId).toBe(traceId);
        const send = collector
          .spans()
          .find((s) => s.parentSpanId === publish.spanId && s.scope.includes('kafkajs'));
        expect(send?.traceId).toBe(traceId);
      } finally {
        await consumer.stop();
      }
    },
    120_000,
  );
});
