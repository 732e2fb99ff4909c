import { DomainError } from '../shared/decider.js';

/** A webhook endpoint id that is not in the caller's tenant (or does not exist): 404, nothing to tell apart. */
export class WebhookNotFound extends DomainError {
  constructor(readonly endpointId: string) {
    super('webhook_not_found', `No webhook endpoint ${endpointId}`);
  }
}

/** `startingAfter` names no delivery of this endpoint. */
export class WebhookDeliveryNotFound extends DomainError {
  constructor(readonly deliveryId: string) {
    super('webhook_delivery_not_found', `No delivery ${deliveryId} of this endpoint`);
  }
}

/**
 * A webhook URL Conflux will not call: not http(s), or its host resolves to a loopback, private,
 * link-local, metadata or otherwise non-public address (SSRF guard), or does not resolve at all.
 * `reason` says which, without secrets; the HTTP layer names the field `url`.
 */
export class WebhookUrlRefused extends DomainError {
  constructor(readonly reason: string) {
    super('webhook_url_refused', `The webhook URL is refused: ${reason}`);
  }
}
