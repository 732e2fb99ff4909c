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
];
