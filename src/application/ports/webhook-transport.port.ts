/**
 * How webhook deliveries reach receivers: the SSRF guard and the HTTP POST. The adapter resolves the host
 * once, refuses non-public addresses (unless private networks are allowed) and connects to the address it
 * checked, so a DNS answer that changes between the check and the connection cannot redirect it.
 */
export const WEBHOOK_TRANSPORT = Symbol('WebhookTransport');

export type WebhookRequest = Readonly<{
  url: string;
  /** Sent as is: the bytes that were signed. */
  body: string;
  headers: Readonly<Record<string, string>>;
  /** Whole request, connection to the end of the response; then it counts as no answer. */
  timeoutMs: number;
}>;

/** The receiver's status code; or none (`status: null`) after a timeout, a refused target or a network error. */
export type WebhookResponse = Readonly<{ status: number } | { status: null; error: string }>;

export interface WebhookTransport {
  /** Resolves when `url` may be called; rejects with WebhookUrlRefused naming why not. */
  checkTarget(url: string): Promise<void>;
  /** POSTs once, following no redirect (a 3xx is an answer like any other non-2xx). Never rejects. */
  send(request: WebhookRequest): Promise<WebhookResponse>;
}
