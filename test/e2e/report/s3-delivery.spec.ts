import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStorage } from '../../../src/infrastructure/storage/s3-object-storage.js';
import { describeWithS3, newBucketName, s3TestServer } from '../../support/s3-test-server.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

const ROWS = 200_000;
const newId = () => `r${randomBytes(5).toString('hex')}`;

describeWithS3('report delivery with STORAGE=s3 on S3Proxy (e2e)', () => {
  let t: TestApp;
  let token: string;
  let bucket: string;
  let objects: S3ObjectStorage;
  let client: S3Client;
  const tenantId = newId();

  beforeAll(async () => {
    bucket = newBucketName();
    t = await startTestApp({
      STORAGE: 's3',
      S3_ENDPOINT: s3TestServer!.endpoint,
      S3_REGION: s3TestServer!.region,
      S3_BUCKET: bucket, // created by the app at start
      AWS_ACCESS_KEY_ID: s3TestServer!.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3TestServer!.credentials.secretAccessKey,
      SIM_TRANSACTIONS: String(ROWS),
      SIM_LATENCY_MS: '200',
      POLL_BACKOFF_BASE_MS: '50',
      DOWNLOAD_URL_TTL_SECONDS: '5',
    });
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenantId, name: tenantId, admin: { username: 'ada', password: 'ada-password-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'ada', password: 'ada-password-1' },
    });
    token = login.body.accessToken;
    objects = new S3ObjectStorage({ ...s3TestServer!, bucket });
    client = new S3Client({ ...s3TestServer!, forcePathStyle: true });
  }, 120_000);

  afterAll(async () => {
    objects?.destroy();
    client?.destroy();
    await t?.close();
  });

  it(`delivers a ${ROWS}-row report by multipart upload and a presigned URL that expires`, async () => {
    const created = await t.request('POST', '/v1/reports', { token, body: { subject: { taxId: 'S3-1' } } });
    expect(created.status).toBe(202);
    const id: string = created.body.id;
    let report: any;
    await waitUntil(
      'the report is final',
      async () => {
        report = (await t.request('GET', `/v1/reports/${id}`, { token })).body;
        return ['ready', 'failed', 'cancelled'].includes(report.status);
      },
      240_000,
      200,
    );
    expect(report.status).toBe('ready');
    const listed = report.files.find((f: { name: string }) => f.name === 'transactions.csv');
    expect(listed.rows).toBe(ROWS);

    // Every object of the run lies under the tenant's prefix; the CSV went up in several parts.
    const keys: string[] = [];
    for await (const key of objects.list('')) keys.push(key);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(keys.filter((key) => !key.startsWith(`tenants/${tenantId}/reports/${id}/`))).toEqual([]);
    const csvKey = keys.find((key) => key.endsWith('/transactions.csv'))!;
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: csvKey }));
    expect(head.ContentLength).toBe(listed.bytes);
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-[2-9]\d*"$/); // multipart: md5-of-md5s, dash, part count

    // The file route: 302 to S3 itself; the URL needs no token and gives the listed bytes.
    const signedAt = Date.now();
    const redirect = await t.request('GET', `/v1/reports/${id}/files/transactions.csv`, { token });
    expect(redirect.status).toBe(302);
    const location = redirect.headers.get('location')!;
    expect(location.startsWith(`${s3TestServer!.endpoint}/${bucket}/tenants/${tenantId}/`)).toBe(true);
    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toContain('transactions.csv');
    const csv = Buffer.from(await download.arrayBuffer());
    expect(csv.length).toBe(listed.bytes);
    expect(createHash('sha256').update(csv).digest('hex')).toBe(listed.sha256);

    // After DOWNLOAD_URL_TTL_SECONDS, S3 itself refuses the URL.
    await waitUntil('the presigned URL has expired', () => Date.now() > signedAt + 6_000, 30_000, 250);
    expect((await fetch(location)).status).toBe(403);
  });
});
