import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Tenant } from '../../../application/ports/tenant-directory.port.js';
import { TenantsService } from '../../../application/tenant/tenants.service.js';
import { OperatorOnly } from '../auth/operator-only.decorator.js';
import { nameText } from '../problem/text-input.js';
import { ZodValidationPipe } from '../problem/validation.js';
import { password, taxId, username } from '../user/user.schemas.js';

const createTenantBody = z.object({
  id: z.string().regex(/^[a-z][a-z0-9]{1,30}$/, 'must match ^[a-z][a-z0-9]{1,30}$'),
  name: nameText(200).trim().min(1, 'must not be empty'),
  admin: z.object({ username, password, taxId: taxId.optional() }),
  selfSignup: z.boolean().default(false),
  // The message never repeats the value: it may hold a password.
  databaseUrl: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
});

/** What the API shows of a tenant: never its connection string. */
export type TenantView = Readonly<{
  id: string;
  name: string;
  status: Tenant['status'];
  selfSignup: boolean;
  createdAt: string;
}>;

const toView = (tenant: Tenant): TenantView => ({
  id: tenant.id,
  name: tenant.name,
  status: tenant.status,
  selfSignup: tenant.selfSignup,
  createdAt: tenant.createdAt.toISOString(),
});

@ApiTags('tenants')
@OperatorOnly()
@Controller('v1/tenants')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post()
  async create(
    @Body(new ZodValidationPipe(createTenantBody)) body: z.output<typeof createTenantBody>,
  ): Promise<TenantView> {
    return toView(await this.tenants.create(body));
  }

  @Get()
  async list(): Promise<{ data: TenantView[] }> {
    return { data: (await this.tenants.list()).map(toView) };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<TenantView> {
    return toView(await this.tenants.get(id));
  }
}
