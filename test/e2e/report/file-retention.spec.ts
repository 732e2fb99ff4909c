import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { EVENT_STORE, type EventStore } from '../../../src/application/ports/event-store.port.js';
import { OBJECT_STORAGE, type ObjectStorage } from '../../../src/application/ports/object-storage.port.js';
import { reportStream } from '../../../src/application/report/report-stream.js';
import { APP_CONFIG, type AppConfig } from '../../../src/infrastructure/config/app-config.js';
import { S3ObjectStorage } from '../../../src/infrastructure/storage/s3-object-storage.js';
import { describeWithS3, newBucketName, s3TestServer } from '../../support/s3-test-server.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

const newId = () => `r${randomBytes(5).toString('hex')}`;
/** 0.0001 days = 8.64 s: long enough to see the files, short enough to wait for their end. */
const RETENTION_DAYS = 0.0001;
const RETENTION_MS = RETENTION_DAYS * 24 * 60 * 60_000;

type Storage = Readonly<{
  env: () => Record<string, string>;
  /** Every object key of a tenant, in whatever store the app writes to. */
  keysOf: (t: TestApp, tenantId: string) => Promise<string[]>;
}>;

const local: Storage = {
  env: () => ({}),
  keysOf: async (t, tenantId) => {
    const { dataDir } = t.conflux.app.get<AppConfig>(APP_CONFIG);
    const dir = join(dataDir, 'objects', 'data', 'tenants', tenantId);
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  },
};

const s3 = (): Storage => {
  const bucket = newBucketName();
  return {
    env: () => ({
      STORAGE: 's3',
      S3_ENDPOINT: s3TestServer!.endpoint,
      S3_REGION: s3TestServer!.region,
      S3_BUCKET: bucket,
      AWS_ACCESS_KEY_ID: s3TestServer!.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3TestServer!.credentials.secretAccessKey,
    }),
    keysOf: async (_t, tenantId) => {
      const objects = new S3ObjectStorage({ ...s3TestServer!, bucket });
      try {
        const keys: string[] = [];
        for await (const key of objects.list(`tenants/${tenantId}/`)) keys.push(key);
        return keys;
      } finally {
        objects.destroy();
      }
    },
  };
};

const retentionSuite = (name: string, storage: () => Storage, describeFn: jest.Describe) =>
  describeFn(`file retention with ${name} (e2e)`, () => {
    let t: TestApp;
    let token: string;
    let store: Storage;
    const tenantId = newId();

    beforeAll(async () => {
      store = storage();
      t = await startTestApp({
        ...store.env(),
        FILE_RETENTION_DAYS: String(RETENTION_DAYS),
        SIM_TRANSACTIONS: '300',
        SIM_LATENCY_MS: '100',
        POLL_BACKOFF_BASE_MS: '50',
      });
      const created = await t.request('POST', '/v1/tenants', {
        token: t.operatorToken,
        body: { id: tenantId, name: tenantId, admin: { username: 'ada', password: 'ada-password-1' } },
      });
      expect(created.status).toBe(201);
      token = (
        await t.request('POST', '/v1/auth/login', {
          body: { tenantId, username: 'ada', password: 'ada-password-1' },
        })
      ).body.accessToken;
    }, 120_000);

    afterAll(() => t?.close());

    const finalReport = async (body: unknown) => {
      const id: string = (await t.request('POST', '/v1/reports', { token, body })).body.id;
      let report: any;
      await waitUntil('the report is final', async () => {
        report = (await t.request('GET', `/v1/reports/${id}`, { token })).body;
        return ['ready', 'failed', 'cancelled'].includes(report.status);
      });
      return report;
    };

    const historyOf = async (id: string) =>
      (await t.conflux.app.get<EventStore>(EVENT_STORE).readStream(reportStream(tenantId, id))).map(
        (e) => e.type,
      );

    it('deletes a ready report’s files and provider results at retainedUntil, then answers 410', async () => {
      const ready = await finalReport({ subject: { taxId: 'KEEP-1' } });
      expect(ready.status).toBe('ready');
      expect(Date.parse(ready.retainedUntil) - Date.parse(ready.completedAt)).toBe(Math.round(RETENTION_MS));
      const before = await store.keysOf(t, tenantId);
      expect(before.filter((k) => k.includes(ready.id)).length).toBeGreaterThanOrEqual(5); // 3 results, 2 files
      expect((await t.request('GET', `/v1/reports/${ready.id}/files/summary.json`, { token })).status).toBe(
        302,
      );

      await waitUntil('the files have expired', async () =>
        (await historyOf(ready.id)).includes('ReportFilesExpired'),
      );
      expect((await store.keysOf(t, tenantId)).filter((k) => k.includes(ready.id))).toEqual([]);
      const gone = await t.request('GET', `/v1/reports/${ready.id}/files/transactions.csv`, { token });
      expect(gone.status).toBe(410);
      expect(gone.contentType).toMatch(/^application\/problem\+json/);
      expect(gone.body.type).toBe('urn:conflux:problem:files-expired');
      const after = (await t.request('GET', `/v1/reports/${ready.id}`, { token })).body;
      expect(after).toMatchObject({ status: 'ready', files: [], retainedUntil: ready.retainedUntil });
      expect((await historyOf(ready.id)).slice(-2)).toEqual(['ReportReady', 'ReportFilesExpired']);
    });

    it.each([
      ['failed', { subject: { taxId: 'fail-credit-9' } }],
      ['cancelled', { subject: { taxId: 'slow-9' } }],
    ])('deletes a %s report’s partial objects', async (status, body) => {
      const id: string = (await t.request('POST', '/v1/reports', { token, body })).body.id;
      if (status === 'cancelled')
        expect((await t.request('POST', `/v1/reports/${id}/cancel`, { token })).status).toBe(202);
      await waitUntil('the report is final', async () =>
        ['failed', 'cancelled'].includes(
          (await t.request('GET', `/v1/reports/${id}`, { token })).body.status,
        ),
      );
      const report = (await t.request('GET', `/v1/reports/${id}`, { token })).body;
      expect(report).toMatchObject({ status, retainedUntil: null });
      // What a generation cut off half-way leaves: an object under the report's prefix.
      const partial = `tenants/${tenantId}/reports/${id}/g7/transactions.csv`;
      await t.conflux.app
        .get<ObjectStorage>(OBJECT_STORAGE)
        .put(partial, Readable.from(['id,amount\n']), { contentType: 'text/csv' });
      expect((await store.keysOf(t, tenantId)).filter((k) => k.includes(id)).length).toBeGreaterThan(0);
      await waitUntil('the partial objects have expired', async () =>
        (await historyOf(id)).includes('ReportFilesExpired'),
      );
      expect((await store.keysOf(t, tenantId)).filter((k) => k.includes(id))).toEqual([]);
    });
  });

retentionSuite('local storage', () => local, describe);
retentionSuite('S3 storage (S3Proxy)', s3, describeWithS3);
