import type { ProviderName } from '../../domain/report/provider-data.js';

/** Base URL of each provider, e.g. `http://127.0.0.1:4010/bank-transactions`; jobs live under `${url}/jobs`. */
export const PROVIDER_URLS = Symbol('ProviderUrls');
export type ProviderUrls = Readonly<Record<ProviderName, string>>;

export const PROVIDER_CLIENT_OPTIONS = Symbol('ProviderClientOptions');
export type ProviderClientOptions = Readonly<{
  /**
   * Total deadline of a request, headers and body (submit, poll, small results); for a result stream it
   * bounds the wait for the headers. Default 10 s.
   */
  requestTimeoutMs?: number;
  /** A result stream that sends no byte for this long is cut (a provider dripping bytes). Default 30 s. */
  idleBodyTimeoutMs?: number;
  /** Total deadline of a result stream, headers and body. Default 15 min (the default provider deadline). */
  resultTimeoutMs?: number;
}>;

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_BODY_TIMEOUT_MS = 30_000;
export const DEFAULT_RESULT_TIMEOUT_MS = 15 * 60_000;
