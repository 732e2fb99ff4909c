import { randomBytes } from 'node:crypto';
import { freePort } from '../../../src/infrastructure/postgres/embedded-postgres.js';
import { collectTopic, describeWithKafka, sharedKafka } from '../../support/kafka.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

const FINAL = ['ready', 'failed', 'cancelled'];
const TAX_ID = 'KAFKA-TAX-77';

/** The whole application with KAFKA_BROKERS set: what reaches the topic when a report becomes ready. */
describeWithKafka('report notifications on Kafka (e2e)', () => {
  let t: TestApp;
  let brokers: string;
  const topic = `reports-${randomBytes(4).toString('hex')}`;
  const tenantId = `e${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    brokers = await sharedKafka();
    t = await startTestApp({
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      SIM_TRANSACTIONS: '50',
      SIM_LATENCY_MS: '100',
      POLL_BACKOFF_BASE_MS: '50',
    });
  }, 200_000);

  afterAll(async () => {
    await t?.close();
  });

  it('sends one message for a report that reaches ready: its summary, without tax ID or URL', async () => {
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenantId, name: tenantId, admin: { username: 'ada', password: 'ada-password-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'ada', password: 'ada-password-1' },
    });
    const token = login.body.accessToken as string;
    const requested = await t.request('POST', '/v1/reports', { token, body: { subject: { taxId: TAX_ID } } });
    expect(requested.status).toBe(202);
    const reportId = requested.body.id as string;
    let report: any;
    await waitUntil('the report is final', async () => {
      report = (await t.request('GET', `/v1/reports/${reportId}`, { token })).body;
      return FINAL.includes(report.status);
    });
    expect(report.status).toBe('ready');

    const consumer = await collectTopic(brokers, topic);
    try {
      await waitUntil('the notification is on the topic', () => consumer.messages.length >= 1);
      const ready = (
        await t.query<{ id: string }>(
          t.controlUrl,
          "SELECT id FROM events WHERE stream_name = $1 AND type = 'ReportReady'",
          [`report-${tenantId}.${reportId}`],
        )
      )[0];
      const [message] = consumer.messages;
      expect(message.key).toBe(reportId);
      expect(message.headers).toMatchObject({
        ce_id: ready.id,
        ce_type: 'conflux.report.ready.v1',
        ce_source: `/conflux/tenants/${tenantId}`,
        ce_subject: reportId,
      });
      expect(message.value).toEqual({
        reportId,
        tenantId,
        status: 'ready',
        files: report.files.map((f: any) => ({
          name: f.name,
          contentType: f.contentType,
          rows: f.rows ?? null,
          bytes: f.bytes,
          sha256: f.sha256,
        })),
        error: null,
        completedAt: report.completedAt,
      });
      const text = JSON.stringify(message);
      expect(text).not.toContain(TAX_ID);
      expect(text).not.toMatch(/https?:\/\//);
      expect(consumer.messages).toHaveLength(1);
    } finally {
      await consumer.stop();
    }
  });

  it('reports the broker in readiness', async () => {
    // Each probe is bounded (2.5 s): on a loaded machine one may say down; the broker is up, so one says up.
    let ready = await t.request('GET', '/health/ready');
    await waitUntil('readiness sees the broker', async () => {
      ready = await t.request('GET', '/health/ready');
      return ready.body.details?.kafka?.broker === 'up';
    });
    expect(ready.status).toBe(200);
    expect(ready.body.details.kafka).toMatchObject({ status: 'up', broker: 'up' });
    expect(ready.body.details.kafka.message).toBeUndefined();
  });
});

describe('readiness while Kafka is unreachable (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    // Nothing listens there: the relay cannot connect, the rest of the service works.
    t = await startTestApp({ KAFKA_BROKERS: `127.0.0.1:${await freePort()}` });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('stays 200 and names Kafka as down in its body', async () => {
    const ready = await t.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
    expect(ready.body.details.kafka).toMatchObject({ status: 'up', broker: 'down' });
    expect(ready.body.details.kafka.message).toEqual(expect.any(String));
  });
});
