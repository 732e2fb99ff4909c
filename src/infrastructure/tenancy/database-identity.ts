import { createHmac, hkdfSync } from 'node:crypto';
import { isIP } from 'node:net';

/** What names one PostgreSQL database: where the server is and which database on it. */
export type DatabaseIdentity = Readonly<{ host: string; port: number; database: string }>;

const DEFAULT_PORT = 5432;
/** Every spelling of "this machine": they reach the same server (a Unix socket included). */
const LOOPBACK = 'localhost';

const normaliseHost = (raw: string): string => {
  // A socket directory (`?host=/var/run/postgresql`) is a server on this machine.
  if (raw.startsWith('/')) return LOOPBACK;
  const host = raw
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === '' || host === 'localhost' || host.endsWith('.localhost')) return LOOPBACK;
  const v4 = host.replace(/^::ffff:/, '');
  if (isIP(v4) === 4) return v4.startsWith('127.') || v4 === '0.0.0.0' ? LOOPBACK : v4;
  if (isIP(host) === 6) {
    const expanded = host === '::1' || host === '0:0:0:0:0:0:0:1' || /^(0{1,4}:){7}0{0,3}1$/.test(host);
    return expanded || host === '::' ? LOOPBACK : host;
  }
  return host;
};

/**
 * The identity of the database a `postgres://` URL points at, spelled one way: host lower-cased, brackets,
 * a trailing dot and loopback aliases (`localhost`, `127.x.x.x`, `::1`, a socket path) folded, the default
 * port made explicit, the database name percent-decoded (PostgreSQL names are case-sensitive, so case is
 * kept), and libpq's overrides in the query (`host`, `port`, `dbname`) applied. User, password and every
 * other parameter are not part of it: two credentials on one database are still one database.
 * An empty database name means the user's name (libpq's rule), then `postgres`.
 * Throws on a string that is not a URL.
 */
export const databaseIdentity = (databaseUrl: string): DatabaseIdentity => {
  const url = new URL(databaseUrl);
  const params = url.searchParams;
  const host = normaliseHost(params.get('host') ?? params.get('hostaddr') ?? url.hostname);
  const port = Number(params.get('port') || url.port || DEFAULT_PORT);
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const user = decodeURIComponent(params.get('user') ?? url.username);
  const database = params.get('dbname') || path || user || 'postgres';
  return { host, port: Number.isInteger(port) && port > 0 ? port : DEFAULT_PORT, database };
};

/**
 * A keyed hash of a database's identity, stored with each tenant under a unique index so that two tenants
 * can never register one database. Keyed (HMAC-SHA256 under a key derived from MASTER_KEY with HKDF) so the
 * control database does not reveal where tenant databases live. Output: 64 hex characters.
 */
export class DatabaseKeys {
  private readonly key: Buffer;

  constructor(masterKey: Buffer) {
    this.key = Buffer.from(
      hkdfSync('sha256', masterKey, Buffer.alloc(0), 'conflux/tenant-database-identity/v1', 32),
    );
  }

  of(databaseUrl: string): string {
    const { host, port, database } = databaseIdentity(databaseUrl);
    return createHmac('sha256', this.key)
      .update(JSON.stringify([host, port, database]))
      .digest('hex');
  }
}

/**
 * Databases every PostgreSQL cluster has for itself: `template1` (what CREATE DATABASE copies by
 * default), `template0` (its pristine copy) and `postgres` (the maintenance database tools connect to).
 * Migrating a tenant into one of them spoils the cluster (a tenant marker in `template1` would be copied
 * into every database created after it). PostgreSQL docs, "Template Databases".
 */
export const SYSTEM_DATABASES: ReadonlySet<string> = new Set(['template0', 'template1', 'postgres']);

/**
 * Why a database the operator gives for a tenant must not be used, judged from the URLs alone (by the
 * same identity as the one-tenant-one-database rule): `'system'` when it names a cluster's system
 * database (on any server), `'control'` when it is the control database itself (DATABASE_URL), else
 * undefined. Throws when either string is not a URL.
 */
export const reservedDatabase = (
  databaseUrl: string,
  controlDatabaseUrl: string,
): 'system' | 'control' | undefined => {
  const given = databaseIdentity(databaseUrl);
  if (SYSTEM_DATABASES.has(given.database)) return 'system';
  const control = databaseIdentity(controlDatabaseUrl);
  return given.host === control.host && given.port === control.port && given.database === control.database
    ? 'control'
    : undefined;
};
