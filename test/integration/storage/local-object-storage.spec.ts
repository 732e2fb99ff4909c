import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
