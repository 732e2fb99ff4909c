/**
 * The schema of every tenant database, as an ordered, append-only list. Each entry runs once per tenant
 * database, in its own transaction, and is recorded by name in `schema_migrations`. Pending entries run
 * when a tenant is created and whenever a tenant database is opened, so a deployment that appends one
 * upgrades every tenant on first use.
 *
 * Append only: never edit, reorder or remove an entry that has shipped — add a new one that alters.
 * Names are unique; the `NNNN_` prefix keeps the intended order obvious.
 */
export type TenantMigration = Readonly<{ name: string; up: readonly string[] }>;

export const tenantMigrations: readonly TenantMigration[] = [
  {
    name: '0001_users',
    up: [
      `CREATE TABLE users (
         id uuid PRIMARY KEY,
         username text NOT NULL,
         password_hash text NOT NULL,
         tax_id text NULL,
         role text NOT NULL CHECK (role IN ('member', 'admin')),
         created_at timestamptz NOT NULL DEFAULT now(),
         CONSTRAINT users_username_unique UNIQUE (username)
       )`,
    ],
  },
  {
    name: '0002_reports_read_model',
    up: [
      `CREATE TABLE reports (
         id text PRIMARY KEY,
         requested_by text NOT NULL,
         status text NOT NULL,
         version integer NOT NULL,
         state jsonb NOT NULL,
         created_at timestamptz NOT NULL,
         updated_at timestamptz NOT NULL
       )`,
      `CREATE INDEX reports_newest_first ON reports (created_at DESC, id DESC)`,
      `CREATE INDEX reports_by_requester ON reports (requested_by, created_at DESC, id DESC)`,
      `CREATE TABLE projection_checkpoints (
         name text PRIMARY KEY,
         checkpoint text NOT NULL,
         updated_at timestamptz NOT NULL
       )`,
      `CREATE TABLE idempotency_keys (
         id text PRIMARY KEY,
         request_hash text NOT NULL,
         report_id text NOT NULL,
         created_at timestamptz NOT NULL,
         completed_at timestamptz NULL
       )`,
    ],
  },
  {
    // Whose database this is: written when a tenant first opens it, checked on every open, so a database
    // given to two tenants never serves one tenant's data to the other (issue 6, item 14).
    name: '0003_tenant_marker',
    up: [
      `CREATE TABLE conflux_tenant (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         tenant_id text NOT NULL,
         claimed_at timestamptz NOT NULL DEFAULT now()
       )`,
    ],
  },
];
