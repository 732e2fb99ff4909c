/**
 * Encrypts secrets at rest (webhook signing secrets) under the process's master key. `context` is bound
 * to the ciphertext (associated data): a value copied onto another row does not decrypt.
 */
export const SECRET_CIPHER = Symbol('SecretCipher');

export interface SecretCipher {
  encrypt(plaintext: string, context: string): string;
  /** Throws when the value was altered, encrypted under another key, or for another context. */
  decrypt(encoded: string, context: string): string;
}
