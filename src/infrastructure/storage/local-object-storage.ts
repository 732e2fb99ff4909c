import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InvalidObjectKeyError,
  type ObjectHead,
  ObjectNotFoundError,
  type ObjectStorage,
  type SignedUrl,
  type SignedUrlOptions,
  type StoredObject,
} from '../../application/ports/object-storage.port.js';

export type LocalObjectStorageOptions = Readonly<{
  /** DATA_DIR/objects in the embedded default. */
  rootDir: string;
  /** HMAC key of signed download URLs; at least 32 random bytes. */
  secret: Buffer;
  /** Where clients reach Conflux, e.g. `http://localhost:3000`: signed URLs point at its download route. */
  publicBaseUrl: string | (() => string);
  now?: () => Date;
  /**
   * fsync each object before it is renamed into place, so a power loss cannot leave an empty file under
   * its final key (rename alone only protects against a process crash). Default true.
   */
  durable?: boolean;
  /** Read chunk size; larger chunks mean fewer stream hops when a file is parsed. */
  readChunkBytes?: number;
}>;

export type DownloadGrant = Readonly<{
  ok: true;
  key: string;
  fileName: string;
  contentType: string;
  expiresAt: Date;
}>;

/** `malformed`: parameters missing; `tampered`: the signature does not match; `expired`: past `expires`. */
export type DownloadRejection = Readonly<{ ok: false; reason: 'malformed' | 'tampered' | 'expired' }>;

export const DOWNLOAD_PATH = '/v1/files/download';

/** Structural, not `instanceof Error`: errors from another realm (Jest's VM context) fail that check. */
const isNodeError = (error: unknown, code: string): boolean =>
  typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;

/** Relative `/`-separated paths only: no absolute path, no `.`/`..`/empty segment, no backslash or control character. */
export const isValidObjectKey = (key: string): boolean =>
  key.length > 0 &&
  key.length <= 1024 &&
  !key.startsWith('/') &&
  // eslint-disable-next-line no-control-regex
  !/[\\\u0000-\u001f\u007f]/.test(key) &&
  key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');

/** A prefix for `deletePrefix`: a valid key followed by `/`. */
export const assertValidPrefix = (prefix: string): void => {
  if (!prefix.endsWith('/') || !isValidObjectKey(prefix.slice(0, -1)))
    throw new InvalidObjectKeyError(prefix);
};

type Meta = Readonly<{ contentType: string }>;

/**
 * Object storage on the local disk (the embedded default). Layout under the root: `data/<key>` holds the
 * bytes, `meta/<key>.json` the content type, `tmp/` objects still being written. An object appears under
 * its key only by `rename` from `tmp/` (same file system, atomic), so a crash never leaves half an object.
 */
export class LocalObjectStorage implements ObjectStorage {
  private readonly dataDir: string;
  private readonly metaDir: string;
  private readonly tmpDir: string;
  private readonly now: () => Date;
  private readonly durable: boolean;
  private readonly readChunkBytes: number;

  constructor(private readonly options: LocalObjectStorageOptions) {
    const root = resolve(options.rootDir);
    this.dataDir = join(root, 'data');
    this.metaDir = join(root, 'meta');
    this.tmpDir = join(root, 'tmp');
    this.now = options.now ?? (() => new Date());
    this.durable = options.durable ?? true;
    this.readChunkBytes = options.readChunkBytes ?? 256 * 1024;
  }

  async put(key: string, body: Readable, { contentType }: { contentType: string }): Promise<StoredObject> {
    const path = this.dataPath(key);
    const metaPath = this.metaPath(key);
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, randomUUID());
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      await pipeline(
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
        createWriteStream(tmp, { flush: this.durable }),
      );
      await this.makeDirectory(dirname(metaPath));
      await this.makeDirectory(dirname(path));
      // Metadata first: an object without its metadata would have no content type; the reverse (metadata
      // without an object) is invisible, because head/get look at the object.
      await writeFile(`${tmp}.meta`, JSON.stringify({ contentType } satisfies Meta), { flush: this.durable });
      await rename(`${tmp}.meta`, metaPath);
      await rename(tmp, path);
      if (this.durable) await this.syncDirectory(dirname(path));
    } catch (error) {
      await rm(tmp, { force: true });
      await rm(`${tmp}.meta`, { force: true });
      throw error;
    }
    return { key, bytes, sha256: hash.digest('hex') };
  }

  async get(key: string): Promise<Readable> {
    const stream = createReadStream(this.dataPath(key), { highWaterMark: this.readChunkBytes });
    try {
      // Open before returning, so a missing object is a typed error here and not a stream error later.
      await once(stream, 'open');
    } catch (error) {
      if (isNodeError(error, 'ENOENT') || isNodeError(error, 'EISDIR')) throw new ObjectNotFoundError(key);
      throw error;
    }
    return stream;
  }

  async head(key: string): Promise<ObjectHead | null> {
    let bytes: number;
    try {
      const stats = await stat(this.dataPath(key));
      if (!stats.isFile()) return null;
      bytes = stats.size;
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) return null;
      throw error;
    }
    return { bytes, contentType: await this.contentTypeOf(key) };
  }

  async delete(key: string): Promise<void> {
    await unlink(this.dataPath(key)).catch((error: unknown) => {
      if (!isNodeError(error, 'ENOENT')) throw error;
    });
    await rm(this.metaPath(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    const dir = this.dataPath(prefix.slice(0, -1));
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((error: unknown) => {
      if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENOTDIR')) return [];
      throw error;
    });
    await rm(dir, { recursive: true, force: true });
    await rm(this.inside(this.metaDir, prefix.slice(0, -1)), { recursive: true, force: true });
    return entries.filter((entry) => entry.isFile()).length;
  }

  /**
   * Deletes temporary files (objects being written) last modified before `olderThan`: what a process
   * killed mid-write leaves. Call at start; a cut-off in the past spares other instances' writes.
   * @returns how many were deleted
   */
  async sweepTemporaryFiles(olderThan: Date): Promise<number> {
    const names = await readdir(this.tmpDir).catch((error: unknown) => {
      if (isNodeError(error, 'ENOENT')) return [];
      throw error;
    });
    let swept = 0;
    for (const name of names) {
      const path = join(this.tmpDir, name);
      const stats = await stat(path).catch(() => undefined);
      if (!stats?.isFile() || stats.mtime >= olderThan) continue;
      await rm(path, { force: true });
      swept += 1;
    }
    return swept;
  }

  async signedDownloadUrl(
    key: string,
    { fileName, contentType, expiresInSeconds }: SignedUrlOptions,
  ): Promise<SignedUrl> {
    this.assertValidKey(key);
    const expires = Math.floor(this.now().getTime() / 1000) + expiresInSeconds;
    const query = new URLSearchParams({
      key,
      expires: String(expires),
      name: fileName,
      type: contentType,
      sig: this.sign(key, expires, fileName, contentType),
    });
    const { publicBaseUrl } = this.options;
    // A function when the port is known only once the server listens (PORT=0 in tests).
    const base = (typeof publicBaseUrl === 'function' ? publicBaseUrl() : publicBaseUrl).replace(/\/+$/, '');
    return { url: `${base}${DOWNLOAD_PATH}?${query.toString()}`, expiresAt: new Date(expires * 1000) };
  }

  /**
   * Checks a download URL's query. The signature is checked before the expiry, so `expired` is only ever
   * said of a URL this store really issued.
   */
  verify(
    query: Readonly<Record<string, unknown>>,
    now: Date = this.now(),
  ): DownloadGrant | DownloadRejection {
    const text = (name: string): string | undefined => {
      const value = query[name];
      return typeof value === 'string' ? value : undefined;
    };
    const [key, expiresText, fileName, contentType, sig] = ['key', 'expires', 'name', 'type', 'sig'].map(
      text,
    );
    if (
      key === undefined ||
      expiresText === undefined ||
      fileName === undefined ||
      contentType === undefined ||
      sig === undefined ||
      !/^\d{1,15}$/.test(expiresText)
    )
      return { ok: false, reason: 'malformed' };
    const expires = Number(expiresText);
    // Compare the canonical encodings: base64url decoding ignores stray characters and spare bits, so
    // comparing decoded bytes would accept more than one spelling of a signature.
    const expected = Buffer.from(this.sign(key, expires, fileName, contentType));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, reason: 'tampered' };
    if (now.getTime() >= expires * 1000) return { ok: false, reason: 'expired' };
    if (!isValidObjectKey(key)) return { ok: false, reason: 'malformed' };
    return { ok: true, key, fileName, contentType, expiresAt: new Date(expires * 1000) };
  }

  /** A JSON array as the signed text: no separator can make two different parameter sets sign alike. */
  private sign(key: string, expires: number, fileName: string, contentType: string): string {
    return createHmac('sha256', this.options.secret)
      .update(JSON.stringify([key, expires, fileName, contentType]))
      .digest('base64url');
  }

  private async contentTypeOf(key: string): Promise<string> {
    try {
      const meta = JSON.parse(await readFile(this.metaPath(key), 'utf8')) as Partial<Meta>;
      if (typeof meta.contentType === 'string') return meta.contentType;
    } catch (error) {
      if (!isNodeError(error, 'ENOENT') && !(error instanceof SyntaxError)) throw error;
    }
    return 'application/octet-stream';
  }

  /**
   * `mkdir -p`, and when durable an fsync of the parent of every directory it created: a new directory's
   * entry must reach the disk before an object renamed into it can be said to be stored.
   */
  private async makeDirectory(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined || !this.durable) return;
    for (let created = dir; created !== dirname(first); created = dirname(created))
      await this.syncDirectory(dirname(created));
  }

  private async syncDirectory(path: string): Promise<void> {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private assertValidKey(key: string): void {
    if (!isValidObjectKey(key)) throw new InvalidObjectKeyError(key);
  }

  private dataPath(key: string): string {
    return this.inside(this.dataDir, key);
  }

  private metaPath(key: string): string {
    return this.inside(this.metaDir, `${key}.json`);
  }

  /** Validates the key, and (belt and braces) checks that the resolved path stays under `dir`. */
  private inside(dir: string, key: string): string {
    this.assertValidKey(key);
    const path = resolve(dir, key);
    if (!path.startsWith(dir + sep)) throw new InvalidObjectKeyError(key);
    return path;
  }
}
