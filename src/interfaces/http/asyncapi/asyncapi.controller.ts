import { Controller, Get, Header, Inject, Module } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';
import { Public } from '../auth/public.decorator.js';
import { buildAsyncApiDocument } from './asyncapi.js';

/**
 * GET /docs/asyncapi.yaml: public, like /docs/openapi.json, and like it not an operation of the API. Sent
 * as JSON text, which is YAML 1.2 (a superset of JSON): no YAML writer needed.
 */
@ApiExcludeController()
@Public()
@Controller('docs')
export class AsyncApiController {
  private readonly document: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.document = `${JSON.stringify(buildAsyncApiDocument(config.kafka.topic), null, 2)}\n`;
  }

  @Get('asyncapi.yaml')
  @Header('content-type', 'application/yaml; charset=utf-8')
  asyncApi(): string {
    return this.document;
  }
}

@Module({ controllers: [AsyncApiController] })
export class AsyncApiModule {}
