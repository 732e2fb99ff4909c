import { type DynamicModule, Global, Module } from '@nestjs/common';
import { LOGGER, type Logger } from '../../application/ports/logger.port.js';
import { APP_CONFIG, type AppConfig } from './app-config.js';

/** The validated configuration and the one logger, available to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
      ],
      exports: [APP_CONFIG, LOGGER],
    };
  }
}
