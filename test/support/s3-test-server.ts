import { randomUUID } from 'node:crypto';
import {
  S3ObjectStorage,
  type S3ObjectStorageOptions,
} from '../../src/infrastructure/storage/s3-object-storage.js';

/**
 * The S3-compatible server of this test run: S3Proxy started by the global setup
 * (test/support/s3proxy-server.mjs), or whatever S3_TEST_ENDPOINT names. Undefined when there is none,
 * with `s3SkipReason` saying why.
 */
export const s3TestServer = process.env.S3_TEST_ENDPOINT
  ? {
      endpoint: process.env.S3_TEST_ENDPOINT,
      region: process.env.S3_TEST_REGION ?? 'us-east-1',
      credentials: {
        accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID ?? '',
        secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY ?? '',
      },
    }
  : undefined;

export const s3SkipReason = process.env.S3_TEST_SKIP_REASON ?? 'no S3 server for this run';

/**
 * `describe` when an S3 server is there; otherwise `describe.skip`, with the reason in the name and
 * printed, so a skipped S3 suite is never silent.
 */
export const describeWithS3: jest.Describe = (() => {
  if (s3TestServer) return describe;
  const skip = ((name: string, fn: jest.EmptyFunction) => {
    console.warn(`${name}: skipped, ${s3SkipReason}`);
    describe.skip(`${name} (skipped: ${s3SkipReason})`, fn);
  }) as jest.Describe;
  return skip;
})();

/** A fresh bucket name: test files share one server, never a bucket. */
export const newBucketName = (): string => `conflux-test-${randomUUID()}`;

/**
 * An S3ObjectStorage on the test server, on a new bucket (created) unless `bucket` is given.
 * @throws Error when there is no S3 server (use inside describeWithS3)
 */
export const newS3Storage = async (
  options: Partial<S3ObjectStorageOptions> = {},
): Promise<S3ObjectStorage> => {
  if (!s3TestServer) throw new Error(`no S3 server: ${s3SkipReason}`);
  const storage = new S3ObjectStorage({
    endpoint: s3TestServer.endpoint,
    region: s3TestServer.region,
    credentials: s3TestServer.credentials,
    forcePathStyle: true,
    bucket: newBucketName(),
    ...options,
  });
  await storage.ensureBucket();
  return storage;
};
