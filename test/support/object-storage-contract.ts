import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  InvalidObjectKeyError,
  ObjectNotFoundError,
  type ObjectStorage,
} from '../../src/application/ports/object-storage.port.js';
import { waitUntil } from './wait-until.js';

/** What one signed URL gave: the status and, on 200, the bytes and the headers a browser would use. */
export type Download = Readonly<{
  status: number;
  body: Buffer;
  contentType?: string;
  contentDisposition?: string;
}>;

/** What an adapter's test file gives the contract; `setup()` runs before every test. */
export type ObjectStorageHarness = Readonly<{
  storage: ObjectStorage;
  /** Follows a signed URL as a client with no other credential would. */
  download: (url: string) => Promise<Download>;
  /** Writes in flight or left behind: temporary files (local), multipart uploads (S3). */
  pendingWrites: () => Promise<number>;
  teardown: () => Promise<void>;
}>;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

const MIB = 1024 * 1024;

/**
 * The behaviour every ObjectStorage adapter owes the application (object-storage.port.ts), run against
 * each adapter: streamed put with size and sha256, get/head/delete, replacement, all-or-nothing writes
 * (a failed body leaves nothing, a write in progress is invisible), signed URLs that work without
 * credentials until they expire, and keys that cannot escape the store.
 */
export const objectStorageContract = (
  name: string,
  setup: () => Promise<ObjectStorageHarness>,
  describeFn: jest.Describe = describe,
): void => {
  describeFn(`${name} (ObjectStorage contract)`, () => {
    let harness: ObjectStorageHarness;
    let storage: ObjectStorage;
    /** Keys of this test only: adapters may share a bucket across tests. */
    let prefix: string;

    beforeEach(async () => {
      harness = await setup();
      storage = harness.storage;
      prefix = `tenants/t-${randomUUID()}/reports/r1`;
    });
    afterEach(() => harness.teardown());

    it('stores a streamed body and reports its size and sha256', async () => {
      const body = 'héllo\n'.repeat(50_000); // several chunks, multi-byte characters
      const key = `${prefix}/a.txt`;
      const stored = await storage.put(key, Readable.from([body]), { contentType: 'text/plain' });
      expect(stored).toEqual({ key, bytes: Buffer.byteLength(body), sha256: sha256(body) });
      expect(await text(await storage.get(key))).toBe(body);
      expect(await storage.head(key)).toEqual({ bytes: Buffer.byteLength(body), contentType: 'text/plain' });
    });

    it('stores a body of several multipart parts byte for byte', async () => {
      const bytes = randomBytes(13 * MIB + 12345);
      const key = `${prefix}/big.bin`;
      // Uneven chunks, as a generator yields them.
      const chunks = [bytes.subarray(0, 1000), bytes.subarray(1000, 7 * MIB), bytes.subarray(7 * MIB)];
      const stored = await storage.put(key, Readable.from(chunks), {
        contentType: 'application/octet-stream',
      });
      expect(stored).toMatchObject({ bytes: bytes.length, sha256: sha256(bytes) });
      const read: Buffer[] = [];
      for await (const chunk of await storage.get(key)) read.push(chunk as Buffer);
      expect(sha256(Buffer.concat(read))).toBe(sha256(bytes));
      expect(await harness.pendingWrites()).toBe(0);
    });

    it('replaces an object put twice under the same key', async () => {
      const key = `${prefix}/k`;
      await storage.put(key, Readable.from(['first']), { contentType: 'text/plain' });
      await storage.put(key, Readable.from(['{"second":true}']), { contentType: 'application/json' });
      expect(await text(await storage.get(key))).toBe('{"second":true}');
      expect(await storage.head(key)).toEqual({ bytes: 15, contentType: 'application/json' });
    });

    it('leaves nothing when the body fails half-way, even after whole parts were sent', async () => {
      async function* failing() {
        for (let i = 0; i < 7; i++) yield randomBytes(MIB); // past one 5 MiB part
        throw new Error('provider connection reset');
      }
      const key = `${prefix}/partial`;
      await expect(storage.put(key, Readable.from(failing()), { contentType: 'text/plain' })).rejects.toThrow(
        'provider connection reset',
      );
      expect(await storage.head(key)).toBeNull();
      await expect(storage.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await harness.pendingWrites()).toBe(0);
    });

    it('keeps the previous version when a replacement fails', async () => {
      const key = `${prefix}/k`;
      await storage.put(key, Readable.from(['good']), { contentType: 'text/plain' });
      async function* failing() {
        yield 'bad';
        throw new Error('boom');
      }
      await expect(storage.put(key, Readable.from(failing()), { contentType: 'text/plain' })).rejects.toThrow(
        'boom',
      );
      expect(await text(await storage.get(key))).toBe('good');
    });

    it('shows no object while its body is still being written', async () => {
      const key = `${prefix}/slow.csv`;
      const body = new PassThrough();
      const putting = storage.put(key, body, { contentType: 'text/csv' });
      // Enough for a multipart upload to start (S3) and a temporary file to exist (local).
      body.write(randomBytes(6 * MIB));
      await waitUntil('the write is under way', async () => (await harness.pendingWrites()) > 0);
      expect(await storage.head(key)).toBeNull();
      await expect(storage.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      body.end('last line\n');
      expect((await putting).bytes).toBe(6 * MIB + 10);
      expect(await storage.head(key)).toMatchObject({ bytes: 6 * MIB + 10 });
    });

    it('answers a missing object with ObjectNotFoundError, null and a quiet delete', async () => {
      await expect(storage.get(`${prefix}/nope`)).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await storage.head(`${prefix}/nope`)).toBeNull();
      await expect(storage.delete(`${prefix}/nope`)).resolves.toBeUndefined();
    });

    it('deletes an object', async () => {
      const key = `${prefix}/d`;
      await storage.put(key, Readable.from(['x']), { contentType: 'text/plain' });
      await storage.delete(key);
      expect(await storage.head(key)).toBeNull();
      await expect(storage.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('signs a URL that downloads the object, named, without other credentials', async () => {
      const key = `${prefix}/transactions.csv`;
      await storage.put(key, Readable.from(['id,amount\n1,2.50\n']), { contentType: 'text/csv' });
      const before = Date.now();
      const signed = await storage.signedDownloadUrl(key, {
        fileName: 'relevé 2025.csv',
        contentType: 'text/csv; charset=utf-8',
        expiresInSeconds: 600,
      });
      expect(signed.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 599_000);
      const download = await harness.download(signed.url);
      expect(download.status).toBe(200);
      expect(download.body.toString()).toBe('id,amount\n1,2.50\n');
      expect(download.contentType).toBe('text/csv; charset=utf-8');
      expect(download.contentDisposition).toBe(
        `attachment; filename="relev_ 2025.csv"; filename*=UTF-8''relev%C3%A9%202025.csv`,
      );
    });

    it('refuses a signed URL once it has expired', async () => {
      const key = `${prefix}/short.csv`;
      await storage.put(key, Readable.from(['x']), { contentType: 'text/csv' });
      const signed = await storage.signedDownloadUrl(key, {
        fileName: 'short.csv',
        contentType: 'text/csv',
        expiresInSeconds: 1,
      });
      await waitUntil('the URL has expired', () => Date.now() > signed.expiresAt.getTime() + 1000);
      expect((await harness.download(signed.url)).status).toBe(403);
    });

    it.each(['../outside', '/etc/passwd', 'a/../../outside', 'a/./b', 'a\\..\\b', 'a//b', ''])(
      'rejects the key %j for every operation',
      async (key) => {
        const invalid = expect.objectContaining({ name: InvalidObjectKeyError.name });
        await expect(storage.put(key, Readable.from(['x']), { contentType: 'text/plain' })).rejects.toEqual(
          invalid,
        );
        await expect(storage.get(key)).rejects.toEqual(invalid);
        await expect(storage.head(key)).rejects.toEqual(invalid);
        await expect(storage.delete(key)).rejects.toEqual(invalid);
        await expect(
          storage.signedDownloadUrl(key, { fileName: 'x', contentType: 'text/plain', expiresInSeconds: 60 }),
        ).rejects.toEqual(invalid);
      },
    );
  });
};
