import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const VERSION = 'v1';

/**
 * Encrypts tenant connection strings at rest (AES-256-GCM under MASTER_KEY). Output:
 * `v1.<iv>.<tag>.<ciphertext>` in base64url — a fresh random IV per value, and the auth tag makes any
 * tampering fail decryption instead of yielding a wrong URL. `context` (the tenant id) is bound as
 * associated data, so a ciphertext copied onto another tenant's row does not decrypt.
 */
export class CredentialCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('MASTER_KEY must be 32 bytes');
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_LENGTH });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  /** Throws when the value was altered, encrypted under another key, or for another context. */
  decrypt(encoded: string, context: string): string {
    const [version, iv, tag, ciphertext, ...rest] = encoded.split('.');
    if (version !== VERSION || !iv || !tag || ciphertext === undefined || rest.length > 0)
      throw new Error('Unrecognised encrypted credential');
    const decipher = createDecipheriv(ALGORITHM, this.key, Buffer.from(iv, 'base64url'), {
      authTagLength: TAG_LENGTH,
    });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}
