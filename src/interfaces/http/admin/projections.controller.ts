import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import {
  ProjectionAdminService,
  type RebuildProgress,
} from '../../../application/projections/projection-admin.service.js';
import { OperatorOnly } from '../auth/operator-only.decorator.js';
import { ApiJsonBody, ApiJsonResponse, ApiPathParams } from '../openapi/openapi.js';
import { ZodValidationPipe } from '../problem/validation.js';

const projectionSchema = z.object({
  name: z.string(),
  tenantId: z.string().nullable(),
  status: z.enum(['live', 'rebuilding', 'unreachable']),
  checkpoint: z.string().nullable(),
  lag: z
    .number()
    .int()
    .nullable()
    .describe('events after the checkpoint not applied yet, counted up to 1,000'),
  parked: z.number().int(),
});

const rebuildSchema = z.object({
  id: z.string(),
  name: z.string(),
  tenantId: z.string(),
  status: z.enum(['running', 'completed', 'failed']),
  eventsApplied: z.number().int(),
  eventsPerSecond: z.number().int(),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
  error: z.string().nullable(),
});

const rebuildBody = z.object({ tenantId: z.string().min(1).max(64) });
const nameParam = { name: z.string().describe('`reports` (per tenant) or `scheduled-work`') };

const toView = (r: RebuildProgress): z.infer<typeof rebuildSchema> => ({
  id: r.id,
  name: r.name,
  tenantId: r.tenantId,
  status: r.status,
  eventsApplied: r.eventsApplied,
  eventsPerSecond: r.eventsPerSecond,
  startedAt: r.startedAt.toISOString(),
  finishedAt: r.finishedAt?.toISOString() ?? null,
  error: r.error,
});

/** Projections for operators (api.md): status, and zero-downtime rebuilds of a tenant's read model. */
@ApiTags('admin')
@OperatorOnly()
@Controller('v1/admin/projections')
export class ProjectionsController {
  constructor(private readonly admin: ProjectionAdminService) {}

  @Get()
  @ApiJsonResponse(
    200,
    z.object({ data: z.array(projectionSchema) }),
    'Every projection and how far behind it is',
  )
  async list(): Promise<{ data: z.infer<typeof projectionSchema>[] }> {
    return { data: await this.admin.list() };
  }

  @Post(':name/rebuild')
  @HttpCode(202)
  @ApiPathParams(nameParam)
  @ApiJsonBody(rebuildBody)
  @ApiJsonResponse(
    202,
    rebuildSchema,
    'The rebuild, started; reads answer from the old read model until the switch',
  )
  async rebuild(
    @Param('name') name: string,
    @Body(new ZodValidationPipe(rebuildBody)) body: z.output<typeof rebuildBody>,
  ): Promise<z.infer<typeof rebuildSchema>> {
    return toView(await this.admin.startRebuild(name, body.tenantId));
  }

  @Get(':name/rebuilds/:id')
  @ApiPathParams({ ...nameParam, id: z.string() })
  @ApiJsonResponse(200, rebuildSchema, 'A rebuild and its progress')
  async get(@Param('name') name: string, @Param('id') id: string): Promise<z.infer<typeof rebuildSchema>> {
    return toView(await this.admin.getRebuild(name, id));
  }
}
