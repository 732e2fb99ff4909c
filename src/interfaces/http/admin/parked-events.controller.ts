import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { ParkedEvent, ParkedEventAction } from '../../../application/ports/parked-events.port.js';
import { ParkedEventsService } from '../../../application/projections/parked-events.service.js';
import { OperatorOnly } from '../auth/operator-only.decorator.js';
import { ApiJsonResponse, ApiPathParams, ApiQueryFrom } from '../openapi/openapi.js';
import { ZodValidationPipe } from '../problem/validation.js';

const parkedSchema = z.object({
  subscription: z.string(),
  tenantId: z.string().nullable(),
  eventId: z.string(),
  streamName: z.string(),
  revision: z.number().int(),
  type: z.string(),
  error: z.string(),
  attempts: z.number().int(),
  parkedAt: z.iso.datetime({ offset: true }),
});

const actionSchema = z.object({
  subscription: z.string(),
  eventId: z.string(),
  action: z.enum(['retried', 'skipped']),
  actor: z.string(),
  at: z.iso.datetime({ offset: true }),
  event: parkedSchema,
});

const listQuery = z.object({ subscription: z.string().max(200).optional() });
const eventParams = {
  subscription: z.string().describe('e.g. `reports:acme`, `scheduled-work`'),
  eventId: z.string(),
};

const toParked = (e: ParkedEvent): z.infer<typeof parkedSchema> => ({
  subscription: e.subscription,
  tenantId: e.tenantId,
  eventId: e.eventId,
  streamName: e.streamName,
  revision: e.revision,
  type: e.type,
  error: e.error,
  attempts: e.attempts,
  parkedAt: e.parkedAt.toISOString(),
});

const toAction = (a: ParkedEventAction): z.infer<typeof actionSchema> => ({
  subscription: a.subscription,
  eventId: a.eventId,
  action: a.action,
  actor: a.actor,
  at: a.at.toISOString(),
  event: toParked(a.event),
});

/** The operator: this API's only token that can act on parked events (recorded as the actor). */
const ACTOR = 'operator (API)';

/** Parked events for operators (issue 11): list, retry after a fix, skip; every action is recorded. */
@ApiTags('admin')
@OperatorOnly()
@Controller('v1/admin/parked-events')
export class ParkedEventsController {
  constructor(private readonly parked: ParkedEventsService) {}

  @Get()
  @ApiQueryFrom(listQuery)
  @ApiJsonResponse(200, z.object({ data: z.array(parkedSchema) }), 'Parked events, oldest first')
  async list(
    @Query(new ZodValidationPipe(listQuery)) query: z.output<typeof listQuery>,
  ): Promise<{ data: z.infer<typeof parkedSchema>[] }> {
    return { data: (await this.parked.list(query.subscription)).map(toParked) };
  }

  @Get('actions')
  @ApiJsonResponse(200, z.object({ data: z.array(actionSchema) }), 'What operators did, newest first')
  async actions(): Promise<{ data: z.infer<typeof actionSchema>[] }> {
    return { data: (await this.parked.actions()).map(toAction) };
  }

  @Post(':subscription/:eventId/retry')
  @HttpCode(200)
  @ApiPathParams(eventParams)
  @ApiJsonResponse(200, actionSchema, 'Applied again and taken off the list')
  async retry(
    @Param('subscription') subscription: string,
    @Param('eventId') eventId: string,
  ): Promise<z.infer<typeof actionSchema>> {
    return toAction(await this.parked.retry(subscription, eventId, ACTOR));
  }

  @Post(':subscription/:eventId/skip')
  @HttpCode(200)
  @ApiPathParams(eventParams)
  @ApiJsonResponse(200, actionSchema, 'Taken off the list without applying it')
  async skip(
    @Param('subscription') subscription: string,
    @Param('eventId') eventId: string,
  ): Promise<z.infer<typeof actionSchema>> {
    return toAction(await this.parked.skip(subscription, eventId, ACTOR));
  }
}
