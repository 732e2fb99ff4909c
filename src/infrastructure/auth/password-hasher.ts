import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import type { PasswordHasher } from '../../application/ports/password-hasher.port.js';
import { AuthenticationBusy } from '../../domain/user/user.errors.js';

const scryptAsync = (password: string, salt: Buffer, keyLength: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key))),
  );

export type ScryptParams = Readonly<{ logN: number; r: number; p: number }>;

/** OWASP's scrypt baseline (N=2^15, r=8, p=1: ~32 MiB and tens of ms per hash). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { logN: 15, r: 8, p: 1 };

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
// PHC-style string: `$scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>`. Parameters travel with each hash, so
// raising them later leaves old hashes verifiable.
const ENCODED = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

const options = ({ logN, r, p }: ScryptParams): ScryptOptions => ({
  N: 2 ** logN,
  r,
  p,
  // Node's default cap (32 MiB) is exactly 128·N·r for the baseline; leave headroom.
  maxmem: 256 * 2 ** logN * r + 1024 * 1024,
});

export type HashingLimits = Readonly<{
  /** scrypt computations at once (each holds 128·N·r bytes: 32 MiB at the baseline). */
  concurrency: number;
  /** Computations allowed to wait; beyond, `AuthenticationBusy` (503 + Retry-After) at once. */
  maxQueued: number;
  /**
   * Longest a computation may wait for its turn; one that waited longer is dropped (AuthenticationBusy)
   * instead of run. Bounds latency whatever the machine's speed: a count alone cannot (one hash takes
   * ~60 ms on an idle core and 400 ms on a loaded one).
   */
  maxWaitMs: number;
}>;

/**
 * Two at once: scrypt runs on libuv's thread pool (4 threads), which file I/O and DNS share; two leave
 * room for them and bound memory to ~64 MiB however many logins arrive. A login waits at most 2 s for
 * its turn.
 */
export const DEFAULT_HASHING_LIMITS: HashingLimits = { concurrency: 2, maxQueued: 128, maxWaitMs: 2000 };

/**
 * scrypt from node:crypto: no native add-on to build, per-user random salt, timing-safe comparison.
 * Every computation (hash, verify, and the dummy check for unknown users) goes through one bounded queue,
 * so a flood of logins — known or unknown usernames alike — costs bounded memory and threads.
 */
export class ScryptPasswordHasher implements PasswordHasher {
  private dummy: Promise<string> | undefined;
  private readonly limit: LimitFunction;

  constructor(
    private readonly params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
    private readonly limits: HashingLimits = DEFAULT_HASHING_LIMITS,
  ) {
    this.limit = pLimit(limits.concurrency);
  }

  /** Runs scrypt within the limits; throws AuthenticationBusy when the queue is full. */
  private scrypt(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
    if (this.limit.pendingCount >= this.limits.maxQueued) return Promise.reject(new AuthenticationBusy());
    // Refused as soon as the wait is over (a timer), not when its turn finally comes; a refused one is
    // skipped when it reaches the front of the queue.
    return new Promise<Buffer>((resolve, reject) => {
      let state: 'queued' | 'started' | 'refused' = 'queued';
      const timer = setTimeout(() => {
        if (state !== 'queued') return;
        state = 'refused';
        reject(new AuthenticationBusy());
      }, this.limits.maxWaitMs);
      void this.limit(async () => {
        if (state === 'refused') return;
        state = 'started';
        clearTimeout(timer);
        try {
          resolve(await scryptAsync(password.normalize('NFKC'), salt, keyLength, options(params)));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_LENGTH);
    const key = await this.scrypt(password, salt, KEY_LENGTH, this.params);
    const { logN, r, p } = this.params;
    return `$scrypt$ln=${logN},r=${r},p=${p}$${salt.toString('base64').replace(/=+$/, '')}$${key
      .toString('base64')
      .replace(/=+$/, '')}`;
  }

  async verify(password: string, encoded: string | undefined): Promise<boolean> {
    if (encoded === undefined) {
      // Unknown user: spend the same time on a hash nobody can match.
      // A failed first attempt (queue full) must not be cached: the next unknown user tries again.
      this.dummy ??= this.hash(randomBytes(16).toString('hex')).catch((error: unknown) => {
        this.dummy = undefined;
        throw error;
      });
      await this.check(password, await this.dummy);
      return false;
    }
    return this.check(password, encoded);
  }

  private async check(password: string, encoded: string): Promise<boolean> {
    const match = ENCODED.exec(encoded);
    if (!match) return false;
    const [, logN, r, p, salt, hash] = match;
    const expected = Buffer.from(hash, 'base64');
    if (expected.length === 0) return false;
    const actual = await this.scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
      logN: Number(logN),
      r: Number(r),
      p: Number(p),
    });
    return timingSafeEqual(actual, expected);
  }
}
