/** In-process notice (CQRS event bus) that a tenant's database is ready: per-tenant consumers start. */
export class TenantProvisioned {
  constructor(readonly tenantId: string) {}
}
