import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ObjectNotFoundError } from '../../../src/application/ports/object-storage.port.js';
import { LocalObjectStorage } from '../../../src/infrastructure/storage/local-object-storage.js';

let root: string;
let storage: LocalObjectStorage;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'conflux-objects-'));
  storage = new LocalObjectStorage({
    rootDir: root,
    secret: randomBytes(32),
    publicBaseUrl: 'http://localhost',
  });
});
afterEach(() => rm(root, { recursive: true, force: true }));

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('LocalObjectStorage', () => {
  it('stores a streamed body and reports its size and sha256', async () => {
    const body = 'héllo\n'.repeat(50_000); // several chunks, multi-byte characters
    const stored = await storage.put('tenants/acme/a.txt', Readable.from([body]), {
      contentType: 'text/plain',
    });
    expect(stored).toEqual({
      key: 'tenants/acme/a.txt',
      bytes: Buffer.byteLength(body),
      sha256: sha256(body),
    });
    expect(await text(await storage.get('tenants/acme/a.txt'))).toBe(body);
    expect(await storage.head('tenants/acme/a.txt')).toEqual({
      bytes: Buffer.byteLength(body),
      contentType: 'text/plain',
    });
  });

  it('accepts byte streams as well as string streams', async () => {
    const bytes = randomBytes(300_000);
    const stored = await storage.put('bin', Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), {
      contentType: 'application/octet-stream',
    });
    expect(stored.sha256).toBe(sha256(bytes));
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get('bin')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
  });

  it('replaces an object put twice under the same key', async () => {
    await storage.put('k', Readable.from(['first']), { contentType: 'text/plain' });
    await storage.put('k', Readable.from(['{"second":true}']), { contentType: 'application/json' });
    expect(await text(await storage.get('k'))).toBe('{"second":true}');
    expect(await storage.head('k')).toEqual({ bytes: 15, contentType: 'application/json' });
  });

  it('leaves nothing under the key when the body fails half-way', async () => {
    async function* failing() {
      yield 'a'.repeat(100_000);
      throw new Error('provider connection reset');
    }
    await expect(
      storage.put('partial', Readable.from(failing()), { contentType: 'text/plain' }),
    ).rejects.toThrow('provider connection reset');
    expect(await storage.head('partial')).toBeNull();
    await expect(storage.get('partial')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('keeps the previous version when a replacement fails', async () => {
    await storage.put('k', Readable.from(['good']), { contentType: 'text/plain' });
    async function* failing() {
      yield 'bad';
      throw new Error('boom');
    }
    await expect(storage.put('k', Readable.from(failing()), { contentType: 'text/plain' })).rejects.toThrow(
      'boom',
    );
    expect(await text(await storage.get('k'))).toBe('good');
  });

  it('answers a missing object with ObjectNotFoundError, null and a quiet delete', async () => {
    await expect(storage.get('nope/x')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await storage.head('nope/x')).toBeNull();
    await expect(storage.delete('nope/x')).resolves.toBeUndefined();
  });

  it('deletes an object', async () => {
    await storage.put('d/x', Readable.from(['x']), { contentType: 'text/plain' });
    await storage.delete('d/x');
    expect(await storage.head('d/x')).toBeNull();
    await expect(storage.get('d/x')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it.each(['../outside', '/etc/passwd', 'a/../../outside', 'a/./b', 'a\\..\\b', 'a//b', ''])(
    'rejects the key %j for every operation',
    async (key) => {
      await expect(storage.put(key, Readable.from(['x']), { contentType: 'text/plain' })).rejects.toThrow(
        /Invalid object key/,
      );
      await expect(storage.get(key)).rejects.toThrow(/Invalid object key/);
      await expect(storage.head(key)).rejects.toThrow(/Invalid object key/);
      await expect(storage.delete(key)).rejects.toThrow(/Invalid object key/);
    },
  );
});
