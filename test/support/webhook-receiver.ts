import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedWebhook = Readonly<{ path: string; headers: IncomingHttpHeaders; body: string }>;

/** How a path answers its n-th request (0-based): a status code, or 'hang' (never answers). */
export type Responder = (n: number) => number | 'hang';

/**
 * A real HTTP receiver for webhook tests: records every request per path and answers as the test's
 * responder for that path says (204 by default). `hanging` counts requests held open; `closed` those of
 * them the client gave up on.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  hanging = 0;
  closed = 0;
  private readonly responders = new Map<string, Responder>();
  private readonly open = new Set<ServerResponse>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        const n = this.received.filter((r) => r.path === path).length;
        this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const answer = (this.responders.get(path) ?? (() => 204))(n);
        if (answer === 'hang') {
          this.hanging++;
          this.open.add(res);
          res.on('close', () => {
            this.closed++;
            this.open.delete(res);
          });
          return;
        }
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  respond(path: string, responder: Responder): void {
    this.responders.set(path, responder);
  }

  at(path: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
