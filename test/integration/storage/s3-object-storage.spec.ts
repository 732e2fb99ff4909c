import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
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
