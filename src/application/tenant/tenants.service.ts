import { Inject, Injectable } from '@nestjs/common';
import { EventBus } from '@nestjs/cqrs';
import { TenantNotFound } from '../../domain/tenant/tenant.errors.js';
import { TENANT_DIRECTORY, type Tenant, type TenantDirectory } from '../ports/tenant-directory.port.js';
import { UsersService } from '../user/users.service.js';
import { TenantProvisioned } from './tenant-provisioned.event.js';

export type CreateTenant = Readonly<{
  id: string;
  name: string;
  selfSignup: boolean;
  databaseUrl?: string;
  admin: Readonly<{ username: string; password: string; taxId?: string }>;
}>;

@Injectable()
export class TenantsService {
  constructor(
    @Inject(TENANT_DIRECTORY) private readonly directory: TenantDirectory,
    private readonly users: UsersService,
    private readonly events: EventBus,
  ) {}

  /** The tenant, its database and its first admin come into existence together, or not at all. */
  async create(input: CreateTenant): Promise<Tenant> {
    const tenant = await this.directory.provision(
      { id: input.id, name: input.name, selfSignup: input.selfSignup, databaseUrl: input.databaseUrl },
      async (em) => {
        await this.users.add(em, {
          username: input.admin.username,
          password: input.admin.password,
          taxId: input.admin.taxId ?? null,
          role: 'admin',
        });
      },
    );
    this.events.publish(new TenantProvisioned(tenant.id));
    return tenant;
  }

  list(): Promise<Tenant[]> {
    return this.directory.list();
  }

  async get(tenantId: string): Promise<Tenant> {
    const tenant = await this.directory.find(tenantId);
    if (!tenant) throw new TenantNotFound(tenantId);
    return tenant;
  }
}
