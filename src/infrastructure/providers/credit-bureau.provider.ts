import { Inject, Optional } from '@nestjs/common';
import { HttpProviderAdapter } from './provider-http-client.js';
import {
  PROVIDER_CLIENT_OPTIONS,
  PROVIDER_URLS,
  type ProviderClientOptions,
  type ProviderUrls,
} from './provider-options.js';
import { ProviderPlugin } from './provider-plugin.decorator.js';

/** The result is one CreditReport, re-emitted as a single NDJSON line. */
@ProviderPlugin({
  name: 'credit-bureau',
  description: 'Credit score and band, open accounts, delinquencies and total debt',
  version: '1.0.0',
})
export class CreditBureauProvider extends HttpProviderAdapter {
  constructor(
    @Inject(PROVIDER_URLS) urls: ProviderUrls,
    @Optional() @Inject(PROVIDER_CLIENT_OPTIONS) options?: ProviderClientOptions,
  ) {
    super('credit-bureau', urls['credit-bureau'], options);
  }
}
