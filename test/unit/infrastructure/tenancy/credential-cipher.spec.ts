import { randomBytes } from 'node:crypto';
import { CredentialCipher } from '../../../../src/infrastructure/tenancy/credential-cipher.js';

const url = 'postgres://conflux:s3cr3t-Pa55@db.internal:5432/conflux_tenant_acme';

describe('CredentialCipher (AES-256-GCM under MASTER_KEY)', () => {
  const key = randomBytes(32);
  const cipher = new CredentialCipher(key);

  it('decrypts what it encrypted', () => {
    expect(cipher.decrypt(cipher.encrypt(url, 'acme'), 'acme')).toBe(url);
  });

  it('keeps nothing of the URL in clear, and uses a fresh IV every time', () => {
    const a = cipher.encrypt(url, 'acme');
    const b = cipher.encrypt(url, 'acme');
    expect(a).not.toBe(b);
    for (const fragment of ['postgres', 's3cr3t', 'db.internal', 'conflux_tenant', 'acme'])
      expect(a).not.toContain(fragment);
  });

  it.each([
    ['iv', 1],
    ['auth tag', 2],
    ['ciphertext', 3],
  ])('rejects a value whose %s was altered', (_part, index) => {
    const parts = cipher.encrypt(url, 'acme').split('.');
    const bytes = Buffer.from(parts[index], 'base64url');
    bytes[0] ^= 0x01;
    parts[index] = bytes.toString('base64url');
    expect(() => cipher.decrypt(parts.join('.'), 'acme')).toThrow();
  });

  it('rejects a value encrypted under another key', () => {
    const other = new CredentialCipher(randomBytes(32));
    expect(() => other.decrypt(cipher.encrypt(url, 'acme'), 'acme')).toThrow();
  });

  it("rejects a value copied onto another tenant's row", () => {
    expect(() => cipher.decrypt(cipher.encrypt(url, 'acme'), 'globex')).toThrow();
  });

  it('rejects values that are not its format', () => {
    expect(() => cipher.decrypt(url, 'acme')).toThrow('Unrecognised encrypted credential');
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new CredentialCipher(randomBytes(16))).toThrow('MASTER_KEY must be 32 bytes');
  });
});
