import type { ProviderName } from '../../domain/report/provider-data.js';

/** Base URL of each provider, e.g. `http://127.0.0.1:4010/bank-transactions`; jobs live under `${url}/jobs`. */
export const PROVIDER_URLS = Symbol('ProviderUrls');
export type ProviderUrls = Readonly<Record<ProviderName, string>>;

export const PROVIDER_CLIENT_OPTIONS = Symbol('ProviderClientOptions');
export type ProviderClientOptions = Readonly<{
  /**
   * Per request; for a result stream it bounds the wait for the response headers only, since a
   * million-row body legitimately takes longer. Default 10 s.
   */
  requestTimeoutMs?: number;
}>;

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
