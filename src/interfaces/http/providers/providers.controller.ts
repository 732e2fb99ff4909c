import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { PROVIDER_REGISTRY, type ProviderRegistry } from '../../../application/ports/provider.port.js';
import { ApiJsonResponse } from '../openapi/openapi.js';
import { type ProviderListResponse, providerListSchema } from './provider-list.response.js';

@ApiTags('providers')
@ApiBearerAuth()
@Controller('v1/providers')
export class ProvidersController {
  constructor(@Inject(PROVIDER_REGISTRY) private readonly registry: ProviderRegistry) {}

  @Get()
  @ApiOperation({ summary: 'The data providers a report draws on' })
  @ApiJsonResponse(200, providerListSchema, 'The providers')
  list(): ProviderListResponse {
    return { data: this.registry.list() };
  }
}
