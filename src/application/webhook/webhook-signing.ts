import { createHash, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com), with the `standardwebhooks` library:
 * `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, space-separated
 * (two while a rotated-out secret still signs).
 */

/** A new signing secret: `whsec_` and 32 random bytes in base64 (the format the library reads). */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * The `webhook-id` of one event's delivery to one endpoint: derived, so every attempt — and a delivery
 * scheduled again after a crash — carries the same id, which receivers use to drop duplicates.
 */
export const webhookIdOf = (eventId: string, endpointId: string): string =>
  `msg_${createHash('sha256').update(`${eventId}/${endpointId}`).digest('base64url').slice(0, 32)}`;

/** The three Standard Webhooks headers for `body`, signed with every secret in `secrets` (current first). */
export const signatureHeaders = (
  webhookId: string,
  at: Date,
  body: string,
  secrets: readonly string[],
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> => ({
  'webhook-id': webhookId,
  'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
  'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(webhookId, at, body)).join(' '),
});
