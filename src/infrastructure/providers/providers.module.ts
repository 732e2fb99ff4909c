import { type DynamicModule, type InjectionToken, Module, type ModuleMetadata } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { PROVIDER_REGISTRY } from '../../application/ports/provider.port.js';
import { BankTransactionsProvider } from './bank-transactions.provider.js';
import { CreditBureauProvider } from './credit-bureau.provider.js';
import {
  PROVIDER_CLIENT_OPTIONS,
  PROVIDER_URLS,
  type ProviderClientOptions,
  type ProviderUrls,
} from './provider-options.js';
import { DiscoveredProviderRegistry } from './provider-registry.js';
import { TaxAuthorityProvider } from './tax-authority.provider.js';

export type ProvidersModuleAsyncOptions = Readonly<{
  imports?: ModuleMetadata['imports'];
  inject?: InjectionToken[];
  useFactory: (...deps: never[]) => ProviderUrls | Promise<ProviderUrls>;
  clientOptions?: ProviderClientOptions;
  /** Client options from DI, e.g. the validated config; wins over `clientOptions`. */
  clientOptionsFrom?: Readonly<{
    inject: InjectionToken[];
    useFactory: (...deps: never[]) => ProviderClientOptions;
  }>;
}>;

/**
 * The three HTTP provider plugins and the registry that discovers them (and any other @ProviderPlugin
 * registered elsewhere). Global: the registry is wanted by the saga and by HTTP alike.
 */
@Module({})
export class ProvidersModule {
  static forRoot(urls: ProviderUrls, clientOptions: ProviderClientOptions = {}): DynamicModule {
    return ProvidersModule.build(
      [],
      [
        { provide: PROVIDER_URLS, useValue: urls },
        { provide: PROVIDER_CLIENT_OPTIONS, useValue: clientOptions },
      ],
    );
  }

  /** For URLs known only after DI starts, e.g. from the validated config or an in-process simulator. */
  static forRootAsync(options: ProvidersModuleAsyncOptions): DynamicModule {
    return ProvidersModule.build(options.imports ?? [], [
      {
        provide: PROVIDER_URLS,
        useFactory: options.useFactory as (...deps: unknown[]) => ProviderUrls | Promise<ProviderUrls>,
        inject: options.inject ?? [],
      },
      options.clientOptionsFrom
        ? {
            provide: PROVIDER_CLIENT_OPTIONS,
            useFactory: options.clientOptionsFrom.useFactory as (...deps: unknown[]) => ProviderClientOptions,
            inject: options.clientOptionsFrom.inject,
          }
        : { provide: PROVIDER_CLIENT_OPTIONS, useValue: options.clientOptions ?? {} },
    ]);
  }

  private static build(
    imports: NonNullable<ModuleMetadata['imports']>,
    options: NonNullable<ModuleMetadata['providers']>,
  ): DynamicModule {
    return {
      module: ProvidersModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        ...options,
        BankTransactionsProvider,
        CreditBureauProvider,
        TaxAuthorityProvider,
        DiscoveredProviderRegistry,
        { provide: PROVIDER_REGISTRY, useExisting: DiscoveredProviderRegistry },
      ],
      exports: [PROVIDER_REGISTRY, PROVIDER_URLS],
    };
  }
}
