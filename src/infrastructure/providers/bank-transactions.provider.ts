import { Inject, Optional } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { ProviderCallOptions } from '../../application/ports/provider.port.js';
import { HttpProviderAdapter } from './provider-http-client.js';
import {
  PROVIDER_CLIENT_OPTIONS,
  PROVIDER_URLS,
  type ProviderClientOptions,
  type ProviderUrls,
} from './provider-options.js';
import { ProviderPlugin } from './provider-plugin.decorator.js';

@ProviderPlugin({
  name: 'bank-transactions',
  description: "Every transaction of the subject's bank accounts in the period, streamed as NDJSON",
  version: '1.0.0',
})
export class BankTransactionsProvider extends HttpProviderAdapter {
  constructor(
    @Inject(PROVIDER_URLS) urls: ProviderUrls,
    @Optional() @Inject(PROVIDER_CLIENT_OPTIONS) options?: ProviderClientOptions,
  ) {
    super('bank-transactions', urls['bank-transactions'], options);
  }

  /** Millions of rows: the NDJSON body is passed through as it arrives, never held in memory. */
  override async openResult(jobId: string, options: ProviderCallOptions = {}): Promise<Readable> {
    return this.openStream(`${this.jobPath(jobId)}/result`, options.signal);
  }
}
