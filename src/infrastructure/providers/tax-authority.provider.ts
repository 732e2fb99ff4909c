import { Inject, Optional } from '@nestjs/common';
import { HttpProviderAdapter } from './provider-http-client.js';
import {
  PROVIDER_CLIENT_OPTIONS,
  PROVIDER_URLS,
  type ProviderClientOptions,
  type ProviderUrls,
} from './provider-options.js';
import { ProviderPlugin } from './provider-plugin.decorator.js';

/** The result is one TaxFilings document (a filing per year), re-emitted as a single NDJSON line. */
@ProviderPlugin({
  name: 'tax-authority',
  description: 'Yearly tax filings: declared income and tax paid',
  version: '1.0.0',
})
export class TaxAuthorityProvider extends HttpProviderAdapter {
  constructor(
    @Inject(PROVIDER_URLS) urls: ProviderUrls,
    @Optional() @Inject(PROVIDER_CLIENT_OPTIONS) options?: ProviderClientOptions,
  ) {
    super('tax-authority', urls['tax-authority'], options);
  }
}
