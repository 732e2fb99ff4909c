import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type {
  WebhookRequest,
  WebhookResponse,
  WebhookTransport,
} from '../../application/ports/webhook-transport.port.js';
import { WebhookUrlRefused } from '../../domain/webhook/webhook.errors.js';
import { isPublicAddress } from './address-policy.js';

export type HttpWebhookTransportOptions = Readonly<{
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: receivers on loopback and private addresses are allowed (tests, on-premise). */
  allowPrivateNetworks: boolean;
  /** Name resolution (all addresses); tests substitute it. Default: the system resolver (dns.lookup). */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}>;

type LookupCallback = (error: Error | null, address: string | LookupAddress[], family?: number) => void;

const systemResolve = (hostname: string) => dnsLookup(hostname, { all: true, verbatim: true });

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Webhook POSTs over node:http(s), guarded against SSRF: the host is resolved once, every address it
 * resolves to must be public (address-policy.ts) unless private networks are allowed, and the connection
 * goes to an address from that checked answer (a `lookup` that returns it), so DNS rebinding between the
 * check and the connect cannot reach an internal address. TLS still verifies the certificate against the
 * URL's host name. Redirects are never followed. One connection per request (no pooled socket outlives
 * the check that allowed it).
 */
export class HttpWebhookTransport implements WebhookTransport {
  private readonly resolveHost: (hostname: string) => Promise<LookupAddress[]>;

  constructor(private readonly options: HttpWebhookTransportOptions) {
    this.resolveHost = options.resolve ?? systemResolve;
  }

  async checkTarget(url: string): Promise<void> {
    await this.resolve(parseTarget(url));
  }

  async send(request: WebhookRequest): Promise<WebhookResponse> {
    try {
      const target = parseTarget(request.url);
      const addresses = await this.resolve(target);
      return { status: await post(target, request, pinnedLookup(addresses)) };
    } catch (error) {
      return { status: null, error: messageOf(error) };
    }
  }

  /** The checked addresses of the URL's host; rejects with WebhookUrlRefused. */
  private async resolve(target: URL): Promise<LookupAddress[]> {
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    let addresses: LookupAddress[];
    const family = isIP(host);
    if (family !== 0) addresses = [{ address: host, family }];
    else {
      try {
        addresses = await this.resolveHost(host);
      } catch {
        throw new WebhookUrlRefused(`its host ${host} does not resolve`);
      }
      if (addresses.length === 0) throw new WebhookUrlRefused(`its host ${host} does not resolve`);
    }
    if (!this.options.allowPrivateNetworks) {
      const internal = addresses.find((a) => !isPublicAddress(a.address));
      if (internal)
        throw new WebhookUrlRefused(
          `its host ${host} resolves to ${internal.address}, which is not a public address`,
        );
    }
    return addresses;
  }
}

/** http(s) URLs only; anything else is refused. */
const parseTarget = (url: string): URL => {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new WebhookUrlRefused('it is not a URL');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new WebhookUrlRefused('only http and https are allowed');
  return target;
};

/** A `lookup` for node:net that answers only the addresses already checked. */
const pinnedLookup =
  (addresses: readonly LookupAddress[]) =>
  (_hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
    const usable = wanted ? addresses.filter((a) => a.family === wanted) : [...addresses];
    if (usable.length === 0) return callback(new Error('no checked address of the wanted family'), []);
    if (options.all) return callback(null, usable);
    callback(null, usable[0].address, usable[0].family);
  };

/** One POST; resolves with the status code once the response has started, rejects on error or timeout. */
const post = (
  target: URL,
  request: WebhookRequest,
  lookup: ReturnType<typeof pinnedLookup>,
): Promise<number> =>
  new Promise((resolve, reject) => {
    const client = target.protocol === 'https:' ? https : http;
    const outgoing = client.request(target, {
      method: 'POST',
      agent: false,
      lookup,
      signal: AbortSignal.timeout(request.timeoutMs),
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(request.body)),
        'user-agent': 'Conflux-Webhooks/1',
      },
    });
    outgoing.on('response', (response) => {
      // The answer is its status; the body is drained and dropped.
      response.on('error', () => undefined);
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    outgoing.on('error', (error) => reject(error));
    outgoing.end(request.body);
  });
