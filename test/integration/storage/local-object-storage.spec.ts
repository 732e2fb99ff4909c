import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { contentDisposition } from '../../../src/infrastructure/storage/content-disposition.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';
import { objectStorageContract } from '../../support/object-storage-contract.js';

const countFiles = async (dir: string): Promise<number> => (await readdir(dir).catch(() => [])).length;

objectStorageContract('LocalObjectStorage', async () => {
  const root = await mkdtemp(join(tmpdir(), 'conflux-objects-'));
  const storage = new LocalObjectStorage({
    rootDir: root,
    secret: randomBytes(32),
    publicBaseUrl: 'http://localhost',
  });
  return {
    storage,
    // What the download route does with the URL (its HTTP side is tested in files.controller.spec.ts).
    download: async (url) => {
      const grant = storage.verify(Object.fromEntries(new URL(url).searchParams));
      if (!grant.ok) return { status: 403, body: Buffer.alloc(0) };
      return {
        status: 200,
        body: await buffer(await storage.get(grant.key)),
        contentType: grant.contentType,
        contentDisposition: contentDisposition(grant.fileName),
      };
    },
    pendingWrites: () => countFiles(join(root, 'tmp')),
    teardown: () => rm(root, { recursive: true, force: true }),
  };
});

describe('LocalObjectStorage after a kill', () => {
  it('sweeps at start the temporary files a killed writer left, sparing younger ones', async () => {
    const root = await mkdtemp(join(tmpdir(), 'conflux-objects-'));
    try {
      const storage = new LocalObjectStorage({
        rootDir: root,
        secret: randomBytes(32),
        publicBaseUrl: 'http://x',
      });
      // What a process killed mid-put leaves: a temporary file (and its metadata), never an object.
      await mkdir(join(root, 'tmp'), { recursive: true });
      await writeFile(join(root, 'tmp', 'killed'), 'half an obj');
      await writeFile(join(root, 'tmp', 'killed.meta'), '{}');
      const old = new Date(Date.now() - 2 * 60 * 60_000);
      await utimes(join(root, 'tmp', 'killed'), old, old);
      await utimes(join(root, 'tmp', 'killed.meta'), old, old);
      await writeFile(join(root, 'tmp', 'in-progress'), 'another instance writing');

      expect(await storage.sweepTemporaryFiles(new Date(Date.now() - 60 * 60_000))).toBe(2);
      expect(await readdir(join(root, 'tmp'))).toEqual(['in-progress']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('LocalObjectStorage.deletePrefix', () => {
  it('deletes the objects under a prefix and nothing beside it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'conflux-objects-'));
    try {
      const storage = new LocalObjectStorage({
        rootDir: root,
        secret: randomBytes(32),
        publicBaseUrl: 'http://x',
      });
      for (const key of [
        'tenants/t/reports/r1/a.csv',
        'tenants/t/reports/r1/raw/b.ndjson',
        'tenants/t/reports/r10/c',
      ])
        await storage.put(key, Readable.from(['x']), { contentType: 'text/plain' });
      expect(await storage.deletePrefix('tenants/t/reports/r1/')).toBe(2);
      expect(await storage.head('tenants/t/reports/r1/a.csv')).toBeNull();
      expect(await storage.head('tenants/t/reports/r10/c')).toEqual({ bytes: 1, contentType: 'text/plain' });
      expect(await storage.deletePrefix('tenants/t/reports/r1/')).toBe(0);
      await expect(storage.deletePrefix('../')).rejects.toThrow(/Invalid object key/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
