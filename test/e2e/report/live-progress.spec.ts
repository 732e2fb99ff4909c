import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { LiveReportEvents } from '../../../src/application/report/live-report-events.js';
import { ReportEventStream } from '../../../src/interfaces/http/report/report-event-stream.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';
import { waitUntil } from '../../support/wait-until.js';

/** Live progress (SSE) ends cleanly: 204 when nothing is left to send, nothing left behind by a client gone. */
describe('live progress closes cleanly (e2e)', () => {
  let t: TestApp;
  let admin: string;
  const tenantId = `l${randomBytes(5).toString('hex')}`;

  const requestReport = async (taxId: string): Promise<string> => {
    const created = await t.request('POST', '/v1/reports', { token: admin, body: { subject: { taxId } } });
    expect(created.status).toBe(202);
    return created.body.id as string;
  };

  /** The SSE blocks of a finished stream: event name and id of each. */
  const blocks = (text: string) =>
    text
      .split('\n\n')
      .filter((block) => block.includes('data:'))
      .map((block) => ({
        event: /^event: (.*)$/m.exec(block)?.[1],
        id: Number(/^id: (.*)$/m.exec(block)?.[1]),
      }));

  beforeAll(async () => {
    // Providers so slow that a report stays in progress for the whole file.
    t = await startTestApp({ SIM_LATENCY_MS: '600000' });
    const created = await t.request('POST', '/v1/tenants', {
      token: t.operatorToken,
      body: { id: tenantId, name: tenantId, admin: { username: 'ada', password: 'ada-password-1' } },
    });
    expect(created.status).toBe(201);
    const login = await t.request('POST', '/v1/auth/login', {
      body: { tenantId, username: 'ada', password: 'ada-password-1' },
    });
    admin = login.body.accessToken as string;
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('answers 204 to a client that already has the final event, so EventSource stops reconnecting', async () => {
    const id = await requestReport('CANCEL-1');
    expect((await t.request('POST', `/v1/reports/${id}/cancel`, { token: admin })).status).toBe(202);
    const events = `${t.baseUrl}/v1/reports/${id}/events`;
    const all = await fetch(events, { headers: { authorization: `Bearer ${admin}` } });
    expect(all.status).toBe(200);
    const received = blocks(await all.text());
    const last = received.at(-1)!;
    expect(last.event).toBe('cancelled');

    const caughtUp = await fetch(events, {
      headers: { authorization: `Bearer ${admin}`, 'last-event-id': String(last.id) },
    });
    expect(caughtUp.status).toBe(204);
    expect(await caughtUp.text()).toBe('');
    // Beyond the final revision too (a client that kept a stale id).
    const beyond = await fetch(`${events}?lastEventId=${last.id + 5}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(beyond.status).toBe(204);
    const missedEnd = await fetch(events, {
      headers: { authorization: `Bearer ${admin}`, 'last-event-id': String(last.id - 1) },
    });
    expect(missedEnd.status).toBe(200);
    expect(blocks(await missedEnd.text()).map((b) => b.event)).toEqual(['cancelled']);
  });

  it('releases every stream and listener of 40 clients that disconnect, before or after the first byte', async () => {
    const id = await requestReport('SLOW-1');
    const live = t.conflux.app.get(LiveReportEvents);
    const streams = t.conflux.app.get(ReportEventStream);
    const server = t.conflux.app.getHttpServer() as Server;
    const { hostname, port } = new URL(t.baseUrl);
    let received = 0;
    const countRequest = () => (received += 1);
    server.on('request', countRequest);
    try {
      // One client stays, so the shared subscription has a follower to keep and a stream to serve.
      const staying = await fetch(`${t.baseUrl}/v1/reports/${id}/events`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(staying.status).toBe(200);
      await waitUntil('the staying client is registered', () => live.followers === 1);

      const clients = Array.from({ length: 40 }, (_, i) => {
        const socket = connect({ host: hostname, port: Number(port) });
        socket.on('error', () => undefined);
        socket.once('connect', () => {
          socket.write(
            `GET /v1/reports/${id}/events HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${admin}\r\n\r\n`,
          );
          // Half leave at once (before any byte of the answer), half as soon as the first byte arrives.
          if (i % 2 === 0) socket.destroy();
          else socket.once('data', () => socket.destroy());
        });
        return new Promise<void>((resolve) => socket.once('close', () => resolve()));
      });
      await Promise.all(clients);
      await waitUntil('the server saw the 40 requests', () => received >= 41);
      await waitUntil(
        'every stream of a client that left is released',
        () => streams.openStreams === 1 && live.followers === 1,
      );
      // And they stay released: the report is still in progress, nothing re-registers them.
      expect((await t.request('GET', `/v1/reports/${id}`, { token: admin })).body.status).not.toMatch(
        /ready|failed|cancelled/,
      );
      expect(streams.openStreams).toBe(1);
      expect(live.followers).toBe(1);

      await staying.body?.cancel();
      await waitUntil(
        'the staying client is released too',
        () => streams.openStreams === 0 && live.followers === 0,
      );
    } finally {
      server.off('request', countRequest);
    }
  });
});
