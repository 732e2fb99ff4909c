import {
  alignmentPath,
  TenantCheckpointsFromAnotherLog,
} from '../../../../src/infrastructure/tenancy/tenant-log-alignment.js';

describe("alignmentPath: which re-bases a tenant's projection checkpoints go through (ADR 0024)", () => {
  const rebasedTwice = {
    identity: 'C',
    rebases: [
      { from: 'A', to: 'B' },
      { from: 'B', to: 'C' },
    ],
  };

  it('given checkpoints of the current log, none', () => {
    expect(alignmentPath('acme', 'C', rebasedTwice, true)).toEqual([]);
  });

  it('given checkpoints of a log re-based since, every re-base from theirs on, in order', () => {
    expect(alignmentPath('acme', 'A', rebasedTwice, true)).toEqual(['A', 'B']);
    expect(alignmentPath('acme', 'B', rebasedTwice, true)).toEqual(['B']);
  });

  it('given a database never aligned, its checkpoints predate every re-base', () => {
    expect(alignmentPath('acme', undefined, rebasedTwice, true)).toEqual(['A', 'B']);
    expect(alignmentPath('acme', undefined, { identity: 'A', rebases: [] }, true)).toEqual([]);
  });

  it('given no checkpoints, nothing to map whatever the marker', () => {
    expect(alignmentPath('acme', 'Z', rebasedTwice, false)).toEqual([]);
  });

  it('given checkpoints of a log no re-base leads from, it refuses, naming the tenant and both logs', () => {
    expect(() => alignmentPath('acme', 'Z', rebasedTwice, true)).toThrow(TenantCheckpointsFromAnotherLog);
    expect(() => alignmentPath('acme', 'Z', rebasedTwice, true)).toThrow(
      /tenant acme .* cluster Z.* cluster C/,
    );
  });

  it('given re-bases that loop without reaching the log, it refuses rather than spin', () => {
    const loop = {
      identity: 'C',
      rebases: [
        { from: 'A', to: 'B' },
        { from: 'B', to: 'A' },
      ],
    };
    expect(() => alignmentPath('acme', 'A', loop, true)).toThrow(TenantCheckpointsFromAnotherLog);
  });
});
