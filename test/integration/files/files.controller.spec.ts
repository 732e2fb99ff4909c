import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory, Reflector } from '@nestjs/core';
import { pino } from 'pino';
import { OBJECT_STORAGE } from '../../../src/application/ports/object-storage.port.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';
import { IS_PUBLIC } from '../../../src/interfaces/http/auth/public.decorator.js';
import { FilesController } from '../../../src/interfaces/http/files/files.controller.js';
import { ProblemFilter } from '../../../src/interfaces/http/problem/problem.filter.js';

let root: string;
let app: INestApplication;
let baseUrl: string;
let clock = new Date('2025-03-01T12:00:00.000Z');
let storage: LocalObjectStorage;

const csv = 'id,description\r\ntx-1,"Café, ""corner"""\r\n';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'conflux-files-'));
  // The public base URL is only known once the app listens; the storage reads it lazily through this object.
  const options = {
    rootDir: root,
    secret: randomBytes(32),
    publicBaseUrl: 'http://placeholder',
    now: () => clock,
  };
  storage = new LocalObjectStorage(options);

  @Module({ controllers: [FilesController], providers: [{ provide: OBJECT_STORAGE, useValue: storage }] })
  class FilesTestModule {}

  app = await NestFactory.create(FilesTestModule, { logger: false });
  app.useGlobalFilters(new ProblemFilter(pino({ level: 'silent' })));
  await app.listen(0, '127.0.0.1');
  baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  options.publicBaseUrl = baseUrl;
  await storage.put('tenants/acme/reports/r1/transactions.csv', Readable.from([csv]), {
    contentType: 'text/csv',
  });
});

afterAll(async () => {
  await app.close();
  await rm(root, { recursive: true, force: true });
});

const sign = (fileName = 'transactions.csv', key = 'tenants/acme/reports/r1/transactions.csv') =>
  storage.signedDownloadUrl(key, { fileName, contentType: 'text/csv', expiresInSeconds: 900 });

describe('GET /v1/files/download', () => {
  it('is marked public for the global auth guard', () =>
    expect(new Reflector().get(IS_PUBLIC, FilesController)).toBe(true));

  it('streams the file with its type, length and an attachment disposition, no Authorization needed', async () => {
    const { url } = await sign();
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(csv)));
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="transactions.csv"; filename*=UTF-8''transactions.csv`,
    );
    expect(await res.text()).toBe(csv);
  });

  it('names a non-ASCII download safely', async () => {
    const { url } = await sign('relevé "2024".csv');
    const res = await fetch(url);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="relev_ _2024_.csv"; filename*=UTF-8''relev%C3%A9%20%222024%22.csv`,
    );
  });

  it('answers 403 problem+json once expired', async () => {
    const { url } = await sign();
    const issued = clock;
    clock = new Date(issued.getTime() + 901_000);
    try {
      const res = await fetch(url);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({
        status: 403,
        type: 'urn:conflux:problem:download-link-expired',
      });
    } finally {
      clock = issued;
    }
  });

  it('answers 403 problem+json when the URL was tampered with', async () => {
    const url = new URL((await sign()).url);
    url.searchParams.set('key', 'tenants/other/reports/r1/transactions.csv');
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({
      status: 403,
      type: 'urn:conflux:problem:download-link-invalid',
    });
  });

  it('answers 404 when the signed file no longer exists', async () => {
    const { url } = await sign('gone.csv', 'tenants/acme/reports/r1/gone.csv');
    const res = await fetch(url);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
