import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from 'node:crypto';
import type { PasswordHasher } from '../../application/ports/password-hasher.port.js';

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

/** scrypt from node:crypto: no native add-on to build, per-user random salt, timing-safe comparison. */
export class ScryptPasswordHasher implements PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(private readonly params: ScryptParams = DEFAULT_SCRYPT_PARAMS) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_LENGTH);
    const key = await scryptAsync(password.normalize('NFKC'), salt, KEY_LENGTH, options(this.params));
    const { logN, r, p } = this.params;
    return `$scrypt$ln=${logN},r=${r},p=${p}$${salt.toString('base64').replace(/=+$/, '')}$${key
      .toString('base64')
      .replace(/=+$/, '')}`;
  }

  async verify(password: string, encoded: string | undefined): Promise<boolean> {
    if (encoded === undefined) {
      // Unknown user: spend the same time on a hash nobody can match.
      this.dummy ??= this.hash(randomBytes(16).toString('hex'));
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
    const actual = await scryptAsync(
      password.normalize('NFKC'),
      Buffer.from(salt, 'base64'),
      expected.length,
      options({ logN: Number(logN), r: Number(r), p: Number(p) }),
    );
    return timingSafeEqual(actual, expected);
  }
}
