/** One-way password hashing. The encoded hash carries its algorithm, parameters and salt. */
export const PASSWORD_HASHER = Symbol('PasswordHasher');

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * True when `password` matches `encoded`. With `encoded` undefined (unknown user) it still spends the
   * time of a real check and answers false, so response times do not reveal which usernames exist.
   */
  verify(password: string, encoded: string | undefined): Promise<boolean>;
}
