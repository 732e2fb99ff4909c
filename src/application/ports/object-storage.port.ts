import type { Readable } from 'node:stream';

/**
 * Object storage for provider raw results and generated report files (local disk by default, S3 in
 * production). Bodies are streams both ways: a 5M-row file must never sit in memory.
 */
export const OBJECT_STORAGE = Symbol('ObjectStorage');

/** What was stored; `bytes` and `sha256` (hex) are computed while the body streams through. */
export type StoredObject = Readonly<{ key: string; bytes: number; sha256: string }>;

export type ObjectHead = Readonly<{ bytes: number; contentType: string }>;

export type SignedUrlOptions = Readonly<{
  /** Offered to the browser as the download's file name (Content-Disposition). */
  fileName: string;
  contentType: string;
  expiresInSeconds: number;
}>;

export type SignedUrl = Readonly<{ url: string; expiresAt: Date }>;

export interface ObjectStorage {
  /** Stores the whole body under `key` or nothing: readers never see a partly written object. */
  put(key: string, body: Readable, options: { contentType: string }): Promise<StoredObject>;
  /** @throws ObjectNotFoundError */
  get(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectHead | null>;
  /** Idempotent: deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Deletes every object under `prefix` (a key ending in `/`), and any write still unfinished there
   * (temporary file, multipart upload). Idempotent.
   * @returns how many objects were deleted
   */
  deletePrefix(prefix: string): Promise<number>;
  /** A URL that downloads the object with no other credential until `expiresAt`. */
  signedDownloadUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No object under key ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

/** Keys are relative, `/`-separated paths without `.`/`..` segments: a key can never escape its store. */
export class InvalidObjectKeyError extends Error {
  constructor(readonly key: string) {
    super(`Invalid object key ${JSON.stringify(key)}`);
    this.name = 'InvalidObjectKeyError';
  }
}
