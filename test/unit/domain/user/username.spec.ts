import { usernameKey } from '../../../../src/domain/user/username.js';

describe('usernameKey', () => {
  it('given spellings of one ASCII name that differ in case, then they fold to one key', () => {
    expect(new Set(['alice', 'ALICE', 'Alice', 'aLiCe'].map(usernameKey))).toEqual(new Set(['alice']));
  });

  it('given a non-ASCII look-alike, then it folds to another key than the ASCII name (and finds no user)', () => {
    // PostgreSQL's lower() folds U+0130 to "i"; compared with this key instead, "alİce" is not "alice".
    for (const lookAlike of ['alİce', 'ALİCE', 'al\u0131ce', '\uff41lice'])
      expect({ lookAlike, key: usernameKey(lookAlike) }).not.toEqual({ lookAlike, key: 'alice' });
  });
});
