import {
  EventLogFromAnotherCluster,
  judgeLogIdentity,
  UNRECORDED_IDENTITY,
} from '../../../../src/infrastructure/event-store/log-identity.js';

describe('judgeLogIdentity: may the store start on this cluster (ADR 0024)', () => {
  it('given the log recorded as this cluster, it starts', () => {
    expect(judgeLogIdentity('7311', '7311', false)).toBe('same');
  });

  it('given the log recorded as another cluster (a pg_dump restored here), it refuses', () => {
    expect(judgeLogIdentity('7311', '9020', false)).toBe('foreign');
  });

  it('given a log from before identities, with events from ids this cluster has not reached, it refuses', () => {
    expect(judgeLogIdentity(undefined, '9020', true)).toBe('foreign');
  });

  it('given a log from before identities whose ids all lie below this cluster, it records this cluster', () => {
    expect(judgeLogIdentity(undefined, '9020', false)).toBe('record');
  });
});

describe('EventLogFromAnotherCluster: the operator reads what happened and what to run', () => {
  it('names both clusters and the command', () => {
    const { message } = new EventLogFromAnotherCluster('7311', '9020');
    expect(message).toContain('written by PostgreSQL cluster 7311');
    expect(message).toContain('this is cluster 9020');
    expect(message).toContain('`npm run conflux -- restore rebase`');
  });

  it('says why when the log predates recorded identities', () => {
    expect(new EventLogFromAnotherCluster(UNRECORDED_IDENTITY, '9020').message).toContain(
      'transaction ids this cluster has not reached',
    );
  });
});
