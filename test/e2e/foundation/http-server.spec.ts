import type { Server } from 'node:http';
import { type Socket, connect } from 'node:net';
import { SERVER_TIMEOUTS } from '../../../src/app.js';
import { type TestApp, startTestApp } from '../../support/test-app.js';

/**
 * The HTTP server's keep-alive behaviour as a client sees it on the wire (raw sockets: no client library
 * hides a closed connection by reconnecting). With Node's defaults (5 s keep-alive) the server closed an
 * idle connection that clients still counted as reusable, so a request sent on it just then failed with
 * `other side closed` / ECONNRESET — on a loaded machine, where the client's own idle timer fires late.
 */

/** An HTTP/1.1 connection read as text; `next()` resolves with the next complete response head. */
const openConnection = async (baseUrl: string) => {
  const { hostname, port } = new URL(baseUrl);
  const socket: Socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffer = '';
  let closed = false;
  let waiting: (() => void) | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    waiting?.();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    waiting?.();
  });
  /** Sends a GET and resolves with the response's status line and headers (bodies here are small). */
  const get = async (path: string): Promise<{ status: number; head: string }> => {
    buffer = '';
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = buffer.slice(0, end);
        return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head };
      }
      if (closed) throw new Error(`the server closed the connection (got ${JSON.stringify(buffer)})`);
      await new Promise<void>((resolve) => (waiting = resolve));
    }
  };
  return { socket, get, isClosed: () => closed };
};

describe('HTTP server keep-alive (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('advertises the keep-alive timeout it applies, longer than clients keep idle sockets', async () => {
    const connection = await openConnection(t.baseUrl);
    try {
      const { status, head } = await connection.get('/health/live');
      expect(status).toBe(200);
      expect(head).toMatch(
        new RegExp(`^keep-alive: timeout=${SERVER_TIMEOUTS.keepAliveTimeoutMs / 1000}`, 'im'),
      );
      expect(SERVER_TIMEOUTS.keepAliveTimeoutMs).toBeGreaterThanOrEqual(60_000);
      expect(SERVER_TIMEOUTS.headersTimeoutMs).toBeGreaterThan(SERVER_TIMEOUTS.keepAliveTimeoutMs);
    } finally {
      connection.socket.destroy();
    }
  });

  it('answers a request on a connection left idle past the old 5 s timeout (+1 s buffer)', async () => {
    const connection = await openConnection(t.baseUrl);
    try {
      expect((await connection.get('/health/live')).status).toBe(200);
      // A client whose 4 s idle timer fires late on a busy machine reuses the socket after ~7 s.
      const idleUntil = Date.now() + 7_000;
      while (Date.now() < idleUntil && !connection.isClosed())
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(connection.isClosed()).toBe(false);
      expect((await connection.get('/health/live')).status).toBe(200);
    } finally {
      connection.socket.destroy();
    }
  });
});

describe('HTTP server close (e2e)', () => {
  it('closes promptly although a request in flight leaves a keep-alive connection behind', async () => {
    const t = await startTestApp();
    const { hostname, port } = new URL(t.baseUrl);
    const socket = connect({ host: hostname, port: Number(port) });
    socket.on('error', () => undefined);
    let response = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (response += chunk));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    // Headers now, the body only once the server is closing: the request is in flight during the close.
    const server = t.conflux.app.getHttpServer() as Server;
    const received = new Promise((resolve) => server.once('request', resolve));
    const body = '{"tenantId":"nobody","username":"x","password":"y"}';
    const closeServer = server.close.bind(server);
    server.close = (callback?: (error?: Error) => void) => {
      closeServer(callback);
      socket.write(body);
      return server;
    };
    socket.write(
      `POST /v1/auth/login HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    await received;
    const started = Date.now();
    const closing = t.close();
    await closing;
    const tookMs = Date.now() - started;
    socket.destroy();
    expect(response).toMatch(/^HTTP\/1\.1 \d{3}/); // the request in flight was answered
    // Without closing connections as they go idle, the close waited for the 65 s keep-alive timeout.
    expect(tookMs).toBeLessThan(SERVER_TIMEOUTS.keepAliveTimeoutMs / 2);
  }, 120_000);
});
