import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import {
  WebhooksService,
  type Page,
  type WebhookAttemptView,
  type WebhookEndpointView,
  type WebhookEndpointWithSecret,
} from '../../../application/webhook/webhooks.service.js';
import { WebhookUrlRefused } from '../../../domain/webhook/webhook.errors.js';
import { type AuthUser, CurrentUser } from '../auth/current-user.decorator.js';
import { Roles } from '../auth/roles.decorator.js';
import {
  ApiBareResponse,
  ApiJsonBody,
  ApiJsonResponse,
  ApiPathParams,
  ApiQueryFrom,
} from '../openapi/openapi.js';
import { ValidationFailed, ZodValidationPipe } from '../problem/validation.js';
import {
  createWebhookBody,
  listWebhooksQuery,
  webhookAttemptPageSchema,
  webhookEndpointSchema,
  webhookEndpointWithSecretSchema,
  webhookPageSchema,
} from './webhook.schemas.js';

const endpointId = { id: z.string() };

/**
 * Tenant admins manage their tenant's webhook endpoints (api.md "Webhooks"); another tenant's endpoint is
 * 404. The secret is in the answer of create and rotate only, never cached.
 */
@ApiTags('webhooks')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  /** 400 naming `url` when it is not http(s) or its host resolves to a non-public address (SSRF guard). */
  @Post()
  @Header('Cache-Control', 'no-store')
  @ApiJsonBody(createWebhookBody)
  @ApiJsonResponse(201, webhookEndpointWithSecretSchema, 'The endpoint, with its secret shown this once')
  async create(
    @CurrentUser() caller: AuthUser,
    @Body(new ZodValidationPipe(createWebhookBody)) body: z.output<typeof createWebhookBody>,
  ): Promise<WebhookEndpointWithSecret> {
    try {
      return await this.webhooks.create(caller.tenantId, body);
    } catch (error) {
      if (error instanceof WebhookUrlRefused)
        throw new ValidationFailed([{ field: 'url', message: error.message }]);
      throw error;
    }
  }

  /** Newest first: `{ data: [endpoint], hasMore }`, `?limit=` 1–100 (20), `?startingAfter=<endpoint id>`. */
  @Get()
  @ApiQueryFrom(listWebhooksQuery)
  @ApiJsonResponse(200, webhookPageSchema, 'A page of endpoints, newest first')
  list(
    @CurrentUser() caller: AuthUser,
    @Query(new ZodValidationPipe(listWebhooksQuery)) query: z.output<typeof listWebhooksQuery>,
  ): Promise<Page<WebhookEndpointView>> {
    return this.webhooks.list(caller.tenantId, query.limit, query.startingAfter);
  }

  @Get(':id')
  @ApiPathParams(endpointId)
  @ApiJsonResponse(200, webhookEndpointSchema, 'The endpoint (without its secret)')
  get(@CurrentUser() caller: AuthUser, @Param('id') id: string): Promise<WebhookEndpointView> {
    return this.webhooks.get(caller.tenantId, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiPathParams(endpointId)
  @ApiBareResponse(204, 'Deleted, with its delivery log; queued deliveries to it are dropped')
  delete(@CurrentUser() caller: AuthUser, @Param('id') id: string): Promise<void> {
    return this.webhooks.delete(caller.tenantId, id);
  }

  /** A new secret; the previous one keeps signing (second signature) for 24 h. */
  @Post(':id/rotate-secret')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiPathParams(endpointId)
  @ApiJsonResponse(200, webhookEndpointWithSecretSchema, 'The endpoint with its new secret, shown this once')
  rotateSecret(@CurrentUser() caller: AuthUser, @Param('id') id: string): Promise<WebhookEndpointWithSecret> {
    return this.webhooks.rotateSecret(caller.tenantId, id);
  }

  /** One line per attempt, newest first; `?limit=`, `?startingAfter=<delivery id>`. */
  @Get(':id/deliveries')
  @ApiPathParams(endpointId)
  @ApiQueryFrom(listWebhooksQuery)
  @ApiJsonResponse(200, webhookAttemptPageSchema, 'A page of delivery attempts, newest first')
  deliveries(
    @CurrentUser() caller: AuthUser,
    @Param('id') id: string,
    @Query(new ZodValidationPipe(listWebhooksQuery)) query: z.output<typeof listWebhooksQuery>,
  ): Promise<Page<WebhookAttemptView>> {
    return this.webhooks.deliveries(caller.tenantId, id, query.limit, query.startingAfter);
  }
}
