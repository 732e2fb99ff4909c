import { randomBytes } from 'node:crypto';
import {
  DatabaseKeys,
  databaseIdentity,
  reservedDatabase,
} from '../../../../src/infrastructure/tenancy/database-identity.js';
import { isConnectionFailure } from '../../../../src/infrastructure/tenancy/connection-failure.js';

describe('databaseIdentity', () => {
  const keys = new DatabaseKeys(randomBytes(32));

  it.each([
    ['postgres://postgres@127.0.0.1:5432/acme'],
    ['postgres://postgres@127.0.0.1/acme'],
    ['postgresql://postgres@localhost:5432/acme'],
    ['postgres://other:secret@LOCALHOST:5432/acme'],
    ['postgres://u:p@localhost.:05432/acme'],
    ['postgres://u@[::1]:5432/acme'],
    ['postgres://u@127.0.0.2/acme?sslmode=disable&application_name=x'],
    ['postgres://u@somewhere/acme?host=/var/run/postgresql'],
    ['postgres://u@localhost:6000/other?port=5432&dbname=acme'],
    ['postgres://u@localhost/%61cme'],
  ])('given %s, when identified, then it is the loopback server on 5432, database acme', (url) => {
    expect(databaseIdentity(url)).toEqual({ host: 'localhost', port: 5432, database: 'acme' });
    expect(keys.of(url)).toBe(keys.of('postgres://postgres@127.0.0.1:5432/acme'));
  });

  it('given a database name in another case, then it is another database (PostgreSQL names are case-sensitive)', () => {
    expect(keys.of('postgres://u@db.example.com/Acme')).not.toBe(keys.of('postgres://u@db.example.com/acme'));
  });

  it('given another host, port or name, then the key differs', () => {
    const base = keys.of('postgres://u@db.example.com:5432/acme');
    expect(keys.of('postgres://u@DB.Example.com/acme')).toBe(base);
    expect(keys.of('postgres://u@db2.example.com/acme')).not.toBe(base);
    expect(keys.of('postgres://u@db.example.com:5433/acme')).not.toBe(base);
    expect(keys.of('postgres://u@db.example.com/acme2')).not.toBe(base);
  });

  it('given no database name, then it is the user name (libpq), then postgres', () => {
    expect(databaseIdentity('postgres://alice@db.example.com').database).toBe('alice');
    expect(databaseIdentity('postgres://db.example.com').database).toBe('postgres');
  });

  it('keys under another MASTER_KEY differ, and reveal nothing of the URL', () => {
    const other = new DatabaseKeys(randomBytes(32));
    const url = 'postgres://u@db.example.com/acme';
    expect(other.of(url)).not.toBe(keys.of(url));
    expect(keys.of(url)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('isConnectionFailure', () => {
  it.each([
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })],
    [new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'all failed')],
    [new Error('Connection terminated unexpectedly')],
    [new Error('timeout exceeded when trying to connect')],
    [Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    [Object.assign(new Error('sorry, too many clients already'), { code: '53300' })],
    [Object.assign(new Error('database "x" does not exist'), { code: '3D000' })],
    [new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) })],
    // The server refuses the connection itself (issue 6 re-test: each was a 500).
    [Object.assign(new Error('role "t" is not permitted to log in'), { code: '28000' })],
    [Object.assign(new Error('password authentication failed for user "t"'), { code: '28P01' })],
    [Object.assign(new Error('database "x" is not currently accepting connections'), { code: '55000' })],
    [
      Object.assign(new Error('permission denied for database "x"'), {
        code: '42501',
        detail: 'User does not have CONNECT privilege.',
      }),
    ],
  ])('given %s, then it is a connection failure', (error) => {
    expect(isConnectionFailure(error)).toBe(true);
  });

  it.each([
    [Object.assign(new Error('duplicate key'), { code: '23505' })],
    [Object.assign(new Error('syntax error'), { code: '42601' })],
    [Object.assign(new Error('permission denied for table users'), { code: '42501' })],
    [Object.assign(new Error('cannot refresh materialized view concurrently'), { code: '55000' })],
    [new Error('boom')],
    ['a string'],
    [undefined],
  ])('given %s, then it is not', (error) => {
    expect(isConnectionFailure(error)).toBe(false);
  });
});

describe('reservedDatabase', () => {
  const control = 'postgres://postgres@127.0.0.1:5432/conflux';

  it.each([
    ['postgres://postgres@127.0.0.1:5432/template1', 'system'],
    ['postgres://u:p@elsewhere.example:6543/template0', 'system'],
    ['postgres://postgres@localhost/postgres', 'system'],
    ['postgres://postgres@localhost', 'system'],
    ['postgres://postgres@127.0.0.1/acme?dbname=template1', 'system'],
    ['postgres://postgres@127.0.0.1/%74emplate1', 'system'],
    ['postgres://other:secret@LOCALHOST/conflux', 'control'],
    ['postgres://u@[::1]:5432/conflux?sslmode=disable', 'control'],
    ['postgres://u@127.0.0.1/x?dbname=conflux', 'control'],
  ])('given %s, then it is refused as %s', (url, why) => {
    expect(reservedDatabase(url, control)).toBe(why);
  });

  it.each([
    ['postgres://postgres@127.0.0.1:5432/acme'],
    ['postgres://postgres@127.0.0.1:5433/conflux'],
    ['postgres://postgres@db.example/conflux'],
    ['postgres://postgres@127.0.0.1/Template1'],
  ])('given %s, then it may be used', (url) => {
    expect(reservedDatabase(url, control)).toBeUndefined();
  });

  it('given the control database named by its user (no path), then it is refused', () => {
    expect(reservedDatabase('postgres://postgres@127.0.0.1', 'postgres://postgres@127.0.0.1/postgres')).toBe(
      'system',
    );
  });
});
