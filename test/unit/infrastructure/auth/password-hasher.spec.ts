import { ScryptPasswordHasher } from '../../../../src/infrastructure/auth/password-hasher.js';

describe('ScryptPasswordHasher', () => {
  // Cheap parameters keep the suite fast; one test below uses the production defaults.
  const hasher = new ScryptPasswordHasher({ logN: 10, r: 8, p: 1 });

  it('verifies the right password and rejects a wrong one', async () => {
    const encoded = await hasher.hash('correct horse battery');
    await expect(hasher.verify('correct horse battery', encoded)).resolves.toBe(true);
    await expect(hasher.verify('correct horse batterY', encoded)).resolves.toBe(false);
    await expect(hasher.verify('', encoded)).resolves.toBe(false);
  });

  it('salts every hash and never contains the password', async () => {
    const a = await hasher.hash('same password');
    const b = await hasher.hash('same password');
    expect(a).not.toBe(b);
    expect(a).not.toContain('same password');
  });

  it('encodes algorithm and parameters with the hash, so they can change later', async () => {
    const encoded = await hasher.hash('some password');
    expect(encoded).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    // A hasher with other defaults still verifies it: the parameters come from the string.
    await expect(new ScryptPasswordHasher().verify('some password', encoded)).resolves.toBe(true);
  });

  it('uses N=2^15 by default', async () => {
    const encoded = await new ScryptPasswordHasher().hash('default parameters');
    expect(encoded.startsWith('$scrypt$ln=15,r=8,p=1$')).toBe(true);
    await expect(new ScryptPasswordHasher().verify('default parameters', encoded)).resolves.toBe(true);
  });

  it('answers false for an unknown user (no hash) and for a malformed hash', async () => {
    await expect(hasher.verify('whatever', undefined)).resolves.toBe(false);
    await expect(hasher.verify('whatever', 'plain-text-password')).resolves.toBe(false);
    await expect(hasher.verify('whatever', '$scrypt$ln=10,r=8,p=1$c2FsdA$')).resolves.toBe(false);
  });
});
