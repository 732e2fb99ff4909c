import { Webhook } from 'standardwebhooks';
import {
  newWebhookSecret,
  signatureHeaders,
  webhookIdOf,
} from '../../../../src/application/webhook/webhook-signing.js';

describe('webhook signing (Standard Webhooks)', () => {
  it('derives one webhook-id per event and endpoint', () => {
    expect(webhookIdOf('e1', 'p1')).toBe(webhookIdOf('e1', 'p1'));
    expect(webhookIdOf('e1', 'p1')).not.toBe(webhookIdOf('e1', 'p2'));
    expect(webhookIdOf('e1', 'p1')).not.toBe(webhookIdOf('e2', 'p1'));
    expect(webhookIdOf('e1', 'p1')).toMatch(/^msg_[A-Za-z0-9_-]{32}$/);
  });

  it('signs with every secret; the library verifies each signature alone', () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const body = '{"type":"report.ready"}';
    const headers = signatureHeaders('msg_x', new Date(), body, [current, previous]);
    const signatures = headers['webhook-signature'].split(' ');
    expect(signatures).toHaveLength(2);
    expect(new Webhook(current).verify(body, { ...headers, 'webhook-signature': signatures[0] })).toEqual({
      type: 'report.ready',
    });
    expect(
      new Webhook(previous).verify(body, { ...headers, 'webhook-signature': signatures[1] }),
    ).toBeTruthy();
    expect(() =>
      new Webhook(previous).verify(body, { ...headers, 'webhook-signature': signatures[0] }),
    ).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, headers)).toThrow();
  });
});
