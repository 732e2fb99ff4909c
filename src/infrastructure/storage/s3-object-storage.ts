import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  InvalidObjectKeyError,
  type ObjectHead,
  ObjectNotFoundError,
  type ObjectStorage,
  type SignedUrl,
  type SignedUrlOptions,
  type StoredObject,
} from '../../application/ports/object-storage.port.js';
import { contentDisposition } from './content-disposition.js';
import { assertValidPrefix, isValidObjectKey } from './local-object-storage.js';

export type S3ObjectStorageOptions = Readonly<{
  bucket: string;
  /** Any S3-compatible endpoint (MinIO, S3Proxy); AWS's regional endpoint when absent. */
  endpoint?: string;
  region?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, S3Proxy). */
  forcePathStyle?: boolean;
  /** From the SDK's default chain (AWS_ACCESS_KEY_ID, …) when absent. */
  credentials?: Readonly<{ accessKeyId: string; secretAccessKey: string }>;
  /**
   * Multipart part size in bytes (S3's minimum is 5 MiB). Memory per upload is about
   * `partSizeBytes × (queueSize + 1)`. Default 8 MiB.
   */
  partSizeBytes?: number;
  /** Parts uploaded at once per object. Default 2. */
  queueSize?: number;
  now?: () => Date;
}>;

const MIB = 1024 * 1024;

/** S3's "no such thing" answers: 404 on HEAD has no code, GET says NoSuchKey, buckets NoSuchBucket/NotFound. */
const isNotFound = (error: unknown): boolean =>
  error instanceof S3ServiceException &&
  (error.$metadata.httpStatusCode === 404 || ['NoSuchKey', 'NotFound', 'NoSuchBucket'].includes(error.name));

/**
 * Object storage on any S3-compatible store. `put` streams the body through a multipart upload
 * (`@aws-sdk/lib-storage`), computing sha256 and size on the way, with back-pressure: at most
 * `queueSize + 1` parts are in memory. An object becomes visible only when its upload completes (S3
 * publishes an object atomically); a failed upload is aborted, so no parts are left behind. Download URLs are
 * presigned GETs that carry the file name and content type.
 */
export class S3ObjectStorage implements ObjectStorage {
  private readonly client: S3Client;
  /**
   * Presigning needs a client that adds no checksum of its own: with the SDK's default ('WHEN_SUPPORTED')
   * the URL carries the empty body's checksum and real S3 refuses the download.
   */
  private readonly presigner: S3Client;
  readonly bucketName: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly now: () => Date;

  constructor(options: S3ObjectStorageOptions) {
    const config: S3ClientConfig = {
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      ...(options.credentials ? { credentials: options.credentials } : {}),
    };
    this.client = new S3Client(config);
    this.presigner = new S3Client({ ...config, requestChecksumCalculation: 'WHEN_REQUIRED' });
    this.bucketName = options.bucket;
    this.partSize = Math.max(options.partSizeBytes ?? 8 * MIB, 5 * MIB);
    this.queueSize = options.queueSize ?? 2;
    this.now = options.now ?? (() => new Date());
  }

  /** Creates the bucket when it is missing (idempotent; racing instances both succeed). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucketName }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucketName }));
    } catch (error) {
      if (!(error instanceof S3ServiceException && error.name === 'BucketAlreadyOwnedByYou')) throw error;
    }
  }

  /**
   * Aborts multipart uploads begun before `olderThan`: what a process killed mid-upload leaves (invisible to
   * readers, but billed). Uploads still in flight elsewhere are younger than any sane cut-off.
   * @returns how many uploads were aborted
   */
  abortStaleUploads(olderThan: Date): Promise<number> {
    return this.abortUploads({ olderThan });
  }

  private async abortUploads({ prefix, olderThan }: { prefix?: string; olderThan?: Date }): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucketName,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        if (olderThan && (!upload.Initiated || upload.Initiated >= olderThan)) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.bucketName,
            Key: upload.Key,
            UploadId: upload.UploadId,
          }),
        );
        aborted += 1;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async put(key: string, body: Readable, { contentType }: { contentType: string }): Promise<StoredObject> {
    this.assertValidKey(key);
    const hash = createHash('sha256');
    let bytes = 0;
    const measured = new PassThrough({ highWaterMark: MIB });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucketName, Key: key, Body: measured, ContentType: contentType },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    const feeding = pipeline(
      body,
      async function* measure(source: AsyncIterable<Buffer | string>) {
        for await (const chunk of source) {
          // Object-mode bodies (Readable.from(strings)) yield strings: store and count them as UTF-8.
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(buffer);
          bytes += buffer.length;
          yield buffer;
        }
      },
      measured,
    );
    // A failing body makes the upload fail (its Body errors); a failing upload must stop the body too,
    // or the pipeline would wait on back-pressure for ever.
    const uploading = upload.done().catch((error: unknown) => {
      measured.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    });
    const [fed, uploaded] = await Promise.allSettled([feeding, uploading]);
    if (fed.status === 'rejected' || uploaded.status === 'rejected') {
      // Abort is a no-op once done() settled; it covers a body that failed after the last part was sent.
      await upload.abort();
      throw uploaded.status === 'rejected' ? uploaded.reason : (fed as PromiseRejectedResult).reason;
    }
    return { key, bytes, sha256: hash.digest('hex') };
  }

  async get(key: string): Promise<Readable> {
    this.assertValidKey(key);
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }));
      return object.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    this.assertValidKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucketName, Key: key }));
      return {
        bytes: head.ContentLength ?? 0,
        contentType: head.ContentType ?? 'application/octet-stream',
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    this.assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucketName, Key: key }));
  }

  /** Every key under `prefix` (`''`: the whole bucket), page by page. */
  async *list(prefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucketName, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Aborts the unfinished multipart uploads under `prefix`, then deletes its objects 1000 at a time. */
  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    await this.abortUploads({ prefix });
    let deleted = 0;
    for (;;) {
      // Always the first page: what was deleted is gone from it.
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucketName, Prefix: prefix, MaxKeys: 1000 }),
      );
      const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : []));
      if (keys.length === 0) return deleted;
      const result = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucketName,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = result.Errors?.[0];
      if (failed) throw new Error(`S3 could not delete ${failed.Key}: ${failed.Code} ${failed.Message}`);
      deleted += keys.length;
    }
  }

  async signedDownloadUrl(
    key: string,
    { fileName, contentType, expiresInSeconds }: SignedUrlOptions,
  ): Promise<SignedUrl> {
    this.assertValidKey(key);
    const signedAt = this.now();
    const url = await getSignedUrl(
      this.presigner,
      new GetObjectCommand({
        Bucket: this.bucketName,
        Key: key,
        ResponseContentDisposition: contentDisposition(fileName),
        ResponseContentType: contentType,
      }),
      { expiresIn: expiresInSeconds, signingDate: signedAt },
    );
    return { url, expiresAt: new Date(signedAt.getTime() + expiresInSeconds * 1000) };
  }

  /** Closes the HTTP connections of both clients. */
  destroy(): void {
    this.client.destroy();
    this.presigner.destroy();
  }

  private assertValidKey(key: string): void {
    if (!isValidObjectKey(key)) throw new InvalidObjectKeyError(key);
  }
}
