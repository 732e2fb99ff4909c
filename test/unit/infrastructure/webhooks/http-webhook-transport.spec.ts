import { createServer, type Server } from 'node:http';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import { WebhookUrlRefused } from '../../../../src/domain/webhook/webhook.errors.js';
import { HttpWebhookTransport } from '../../../../src/infrastructure/webhooks/http-webhook-transport.js';

const resolver =
  (answers: Record<string, string[]>) =>
  async (hostname: string): Promise<LookupAddress[]> => {
    const addresses = answers[hostname];
    if (!addresses) throw new Error(`ENOTFOUND ${hostname}`);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('HttpWebhookTransport', () => {
  let server: Server;
  let port: number;
  const hits: { path: string; host?: string; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        hits.push({ path: req.url ?? '', ...(req.headers.host ? { host: req.headers.host } : {}), body });
        if (req.url === '/redirect')
          res.writeHead(302, { location: `http://127.0.0.1:${port}/target` }).end();
        else if (req.url === '/slow') setTimeout(() => res.writeHead(204).end(), 2_000).unref();
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => (hits.length = 0));

  const request = (url: string, timeoutMs = 5_000) => ({
    url,
    body: '{"a":1}',
    headers: { 'webhook-id': 'msg_1' },
    timeoutMs,
  });

  it('refuses a host that resolves to any non-public address, and other schemes, when private networks are not allowed', async () => {
    const transport = new HttpWebhookTransport({
      allowPrivateNetworks: false,
      resolve: resolver({
        'public.example': ['93.184.215.14'],
        'mixed.example': ['93.184.215.14', '10.0.0.7'],
        'metadata.example': ['169.254.169.254'],
        'mapped.example': ['::ffff:127.0.0.1'],
      }),
    });
    await expect(transport.checkTarget('https://public.example/hook')).resolves.toBeUndefined();
    for (const url of [
      'https://mixed.example/hook',
      'http://metadata.example/',
      'http://mapped.example/',
      'http://127.0.0.1/',
      'http://[::1]:8080/',
      'http://nowhere.example/',
      'ftp://public.example/',
      'file:///etc/passwd',
    ])
      await expect(transport.checkTarget(url)).rejects.toBeInstanceOf(WebhookUrlRefused);
  });

  it('does not connect to a refused target: send answers no status', async () => {
    const transport = new HttpWebhookTransport({ allowPrivateNetworks: false });
    const response = await transport.send(request(`http://127.0.0.1:${port}/hook`));
    expect(response).toEqual({ status: null, error: expect.stringContaining('not a public address') });
    expect(hits).toEqual([]);
  });

  it('connects to the address it checked, whatever the name (pinned: no second DNS look-up)', async () => {
    const lookups: string[] = [];
    const transport = new HttpWebhookTransport({
      allowPrivateNetworks: true,
      resolve: async (hostname) => {
        lookups.push(hostname);
        return resolver({ 'receiver.invalid': ['127.0.0.1'] })(hostname);
      },
    });
    // `.invalid` never resolves in DNS (RFC 6761): the request can only arrive through the pinned address.
    const response = await transport.send(request(`http://receiver.invalid:${port}/hook`));
    expect(response).toEqual({ status: 204 });
    expect(lookups).toEqual(['receiver.invalid']);
    expect(hits).toEqual([{ path: '/hook', host: `receiver.invalid:${port}`, body: '{"a":1}' }]);
  });

  it('follows no redirect: a 302 is the answer', async () => {
    const transport = new HttpWebhookTransport({ allowPrivateNetworks: true });
    expect(await transport.send(request(`http://127.0.0.1:${port}/redirect`))).toEqual({ status: 302 });
    expect(hits.map((h) => h.path)).toEqual(['/redirect']);
  });

  it('gives up after the timeout with no status', async () => {
    const transport = new HttpWebhookTransport({ allowPrivateNetworks: true });
    const response = await transport.send(request(`http://127.0.0.1:${port}/slow`, 200));
    expect(response).toEqual({ status: null, error: expect.any(String) });
  });
});
