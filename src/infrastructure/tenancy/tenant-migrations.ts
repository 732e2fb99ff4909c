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
    // Issue 6, items 8 and 13. Usernames become unique ignoring case. Pairs that differ only in case
    // (`bob` and `BOB`) may already exist: they are KEPT — each still signs in with its exact spelling —
    // but marked `legacy_case_duplicate` (all but the oldest of each group), which exempts them from the
    // new index; no new such pair can be made. Refusing would lock the tenant out until an operator
    // renamed someone. Tax IDs already stored have no known provenance (sign-up or admin), so they start
    // unverified: a tenant admin verifies them with PATCH /v1/users/:id.
    name: '0003_users_case_insensitive_and_verified_tax_id',
    up: [
      `ALTER TABLE users ADD COLUMN tax_id_verified boolean NOT NULL DEFAULT false`,
      `ALTER TABLE users ADD COLUMN legacy_case_duplicate boolean NOT NULL DEFAULT false`,
      `UPDATE users u SET legacy_case_duplicate = true
         WHERE EXISTS (SELECT 1 FROM users o WHERE lower(o.username) = lower(u.username)
                         AND (o.created_at, o.id) < (u.created_at, u.id))`,
      `CREATE UNIQUE INDEX users_username_lower_unique ON users (lower(username))
         WHERE NOT legacy_case_duplicate`,
      `CREATE INDEX users_newest_first ON users (created_at DESC, id DESC)`,
    ],
  },
  {
    // Whose database this is: written when a tenant first opens it, checked on every open, so a database
    // given to two tenants never serves one tenant's data to the other (issue 6, item 14).
    name: '0004_tenant_marker',
    up: [
      `CREATE TABLE conflux_tenant (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         tenant_id text NOT NULL,
         claimed_at timestamptz NOT NULL DEFAULT now()
       )`,
    ],
  },
  {
    // Issue 9: webhook endpoints (secrets encrypted) and their delivery log, one row per attempt.
    name: '0005_webhooks',
    up: [
      `CREATE TABLE webhook_endpoints (
         id uuid PRIMARY KEY,
         url text NOT NULL,
         events jsonb NOT NULL,
         description text NULL,
         status text NOT NULL CHECK (status IN ('enabled', 'disabled')),
         secret_encrypted text NOT NULL,
         previous_secret_encrypted text NULL,
         previous_secret_expires_at timestamptz NULL,
         created_at timestamptz NOT NULL
       )`,
      `CREATE INDEX webhook_endpoints_newest_first ON webhook_endpoints (created_at DESC, id DESC)`,
      `CREATE TABLE webhook_deliveries (
         id text PRIMARY KEY,
         endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
         webhook_id text NOT NULL,
         event_type text NOT NULL,
         report_id text NOT NULL,
         attempt integer NOT NULL,
         status text NOT NULL CHECK (status IN ('delivered', 'retrying', 'failed')),
         response_status integer NULL,
         at timestamptz NOT NULL,
         next_attempt_at timestamptz NULL
       )`,
      `CREATE INDEX webhook_deliveries_newest_first ON webhook_deliveries (endpoint_id, at DESC, id DESC)`,
    ],
  },
  {
    // Issue 11, item 4: which event log the projection checkpoints are positions of (the identity of the
    // cluster the log's positions belong to), so that they follow a re-base of the log (ADR 0024).
    name: '0006_projection_checkpoints_log',
    up: [
      `CREATE TABLE projection_checkpoints_log (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         log_identity text NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now()
       )`,
    ],
  },
];
