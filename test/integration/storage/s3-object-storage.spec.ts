import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { objectStorageContract } from '../../support/object-storage-contract.js';
import { describeWithS3, newS3Storage, s3TestServer } from '../../support/s3-test-server.js';

objectStorageContract(
  'S3ObjectStorage on S3Proxy',
  async () => {
    // Small parts, so the contract's bodies of a few MiB are really uploaded in several parts.
    const storage = await newS3Storage({ partSizeBytes: 5 * 1024 * 1024 });
    const client = new S3Client({ ...s3TestServer, forcePathStyle: true });
    return {
      storage,
      download: async (url) => {
        const response = await fetch(url);
        return {
          status: response.status,
          body: Buffer.from(await response.arrayBuffer()),
          contentType: response.headers.get('content-type') ?? undefined,
          contentDisposition: response.headers.get('content-disposition') ?? undefined,
        };
      },
      pendingWrites: async () =>
        (await client.send(new ListMultipartUploadsCommand({ Bucket: storage.bucketName }))).Uploads
          ?.length ?? 0,
      teardown: async () => {
        client.destroy();
        storage.destroy();
      },
    };
  },
  describeWithS3,
);

describeWithS3('S3ObjectStorage after a kill', () => {
  it('aborts at start the multipart uploads a killed writer left, sparing younger ones', async () => {
    const storage = await newS3Storage();
    const client = new S3Client({ ...s3TestServer, forcePathStyle: true });
    const uploads = async () =>
      (await client.send(new ListMultipartUploadsCommand({ Bucket: storage.bucketName }))).Uploads ?? [];
    try {
      // What a process killed mid-put leaves: an upload with a part, never completed.
      const Bucket = storage.bucketName;
      const Key = 'tenants/t/reports/r/g1/transactions.csv';
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'half a file' }));
      expect(await uploads()).toHaveLength(1);

      // An upload begun after the cut-off may be another instance's: it stays.
      expect(await storage.abortStaleUploads(new Date(Date.now() - 60 * 60_000))).toBe(0);
      expect(await uploads()).toHaveLength(1);
      expect(await storage.abortStaleUploads(new Date(Date.now() + 60_000))).toBe(1);
      expect(await uploads()).toEqual([]);
      expect(await storage.head(Key)).toBeNull();
    } finally {
      client.destroy();
      storage.destroy();
    }
  });

  it('deletes a prefix: its objects and its unfinished uploads, nothing beside it', async () => {
    const storage = await newS3Storage();
    const client = new S3Client({ ...s3TestServer, forcePathStyle: true });
    try {
      const Bucket = storage.bucketName;
      for (const key of [
        'tenants/t/reports/r1/a.csv',
        'tenants/t/reports/r1/raw/b.ndjson',
        'tenants/t/reports/r10/c',
      ])
        await storage.put(key, Readable.from(['x']), { contentType: 'text/plain' });
      await client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'tenants/t/reports/r1/g2/x.csv' }));

      expect(await storage.deletePrefix('tenants/t/reports/r1/')).toBe(2);
      const left: string[] = [];
      for await (const key of storage.list('')) left.push(key);
      expect(left).toEqual(['tenants/t/reports/r10/c']);
      expect((await client.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? []).toEqual([]);
      await expect(storage.deletePrefix('tenants/t/reports/r1')).rejects.toThrow(/Invalid object key/);
    } finally {
      client.destroy();
      storage.destroy();
    }
  });
});
