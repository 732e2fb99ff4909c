import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Tenant } from '../../../application/ports/tenant-directory.port.js';
import { TenantsService } from '../../../application/tenant/tenants.service.js';
import { OperatorOnly } from '../auth/operator-only.decorator.js';
import { ApiJsonBody, ApiJsonResponse, ApiPathParams } from '../openapi/openapi.js';
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

/** What the API shows of a tenant (api.md "Tenant create"): never its connection string. */
const tenantViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(['provisioning', 'active', 'disabled']),
  selfSignup: z.boolean(),
  createdAt: z.iso.datetime({ offset: true }),
});

export type TenantView = Readonly<z.infer<typeof tenantViewSchema>>;

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
  @ApiJsonBody(createTenantBody)
  @ApiJsonResponse(201, tenantViewSchema, 'The tenant created, with its database')
  async create(
    @Body(new ZodValidationPipe(createTenantBody)) body: z.output<typeof createTenantBody>,
  ): Promise<TenantView> {
    return toView(await this.tenants.create(body));
  }

  @Get()
  @ApiJsonResponse(200, z.object({ data: z.array(tenantViewSchema) }), 'Every tenant')
  async list(): Promise<{ data: TenantView[] }> {
    return { data: (await this.tenants.list()).map(toView) };
  }

  @Get(':id')
  @ApiPathParams({ id: z.string() })
  @ApiJsonResponse(200, tenantViewSchema, 'The tenant')
  async get(@Param('id') id: string): Promise<TenantView> {
    return toView(await this.tenants.get(id));
  }
}
