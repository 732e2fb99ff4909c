import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { PROVIDER_REGISTRY, type ProviderRegistry } from '../../../application/ports/provider.port.js';
import { ProviderListResponse } from './provider-list.response.js';

@ApiTags('providers')
@Controller('v1/providers')
export class ProvidersController {
  constructor(@Inject(PROVIDER_REGISTRY) private readonly registry: ProviderRegistry) {}

  @Get()
  @ApiOperation({ summary: 'The data providers a report draws on' })
  @ApiOkResponse({ type: ProviderListResponse })
  list(): ProviderListResponse {
    return { data: this.registry.list() };
  }
}
