import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { ProviderName } from '../../domain/report/provider-data.js';
import { LOGGER, type Logger } from '../../application/ports/logger.port.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import {
  type RunningProviderSimulator,
  simulatorProviderUrls,
  startProviderSimulator,
} from './provider-simulator.js';

export const BUNDLED_SIMULATOR = Symbol('BundledSimulator');

export type BundledSimulator = Readonly<{
  urls: Record<ProviderName, string>;
  /** The in-process simulator, when no provider URL was configured. */
  running?: RunningProviderSimulator;
}>;

class BundledSimulatorLifecycle implements OnApplicationShutdown {
  constructor(@Inject(BUNDLED_SIMULATOR) private readonly simulator: BundledSimulator) {}

  async onApplicationShutdown(): Promise<void> {
    await this.simulator.running?.close();
  }
}

/**
 * The provider URLs: the configured ones, or — when none is configured — the bundled simulator started
 * in this process on SIM_PORT (the embedded default: `npm start` needs no real provider).
 */
@Global()
@Module({
  providers: [
    {
      provide: BUNDLED_SIMULATOR,
      inject: [APP_CONFIG, LOGGER],
      useFactory: async (config: AppConfig, logger: Logger): Promise<BundledSimulator> => {
        const { bank, credit, tax } = config.providers;
        if (bank && credit && tax)
          return { urls: { 'bank-transactions': bank, 'credit-bureau': credit, 'tax-authority': tax } };
        const running = await startProviderSimulator(config.simulator);
        logger.info(
          { url: running.url },
          'no provider URL configured: the bundled provider simulator is running',
        );
        const urls = simulatorProviderUrls(running.url);
        return {
          running,
          urls: {
            'bank-transactions': bank ?? urls['bank-transactions'],
            'credit-bureau': credit ?? urls['credit-bureau'],
            'tax-authority': tax ?? urls['tax-authority'],
          },
        };
      },
    },
    BundledSimulatorLifecycle,
  ],
  exports: [BUNDLED_SIMULATOR],
})
export class ProviderSimulatorModule {}
