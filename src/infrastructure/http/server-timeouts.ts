import type { Server } from 'node:http';

/**
 * Timeouts of every HTTP server this process runs (the app's and the bundled provider simulator's), set deliberately rather than left at Node's defaults (keep-alive 5 s).
 * - `keepAliveTimeoutMs`: an idle keep-alive connection stays open this long. It must outlast every
 *   client's idle timeout, so the client always closes first: otherwise a client that reuses its idle
 *   socket just as the server closes it sees `other side closed` / ECONNRESET (seen on a loaded machine,
 *   where a client's own idle timer fires late). undici keeps an idle socket 4 s (or the advertised
 *   `Keep-Alive: timeout` minus 2 s), Node's http.Agent without `timeout` forever, load balancers ~60 s.
 * - `headersTimeoutMs`: a client must send a request's headers within this time (slow-header attacks);
 *   above the keep-alive timeout, the usual rule, so no timer ever races a reused connection's request.
 * - `requestTimeoutMs`: the whole request (headers and a body of at most 1 MiB) must arrive within this;
 *   responses are not bounded by it (a live-progress stream may run for minutes).
 */
export const SERVER_TIMEOUTS = {
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 66_000,
  requestTimeoutMs: 120_000,
} as const;

/** Sets SERVER_TIMEOUTS on a `node:http` server (before or after it listens). */
export const applyServerTimeouts = (server: Server): void => {
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeoutMs;
  server.headersTimeout = SERVER_TIMEOUTS.headersTimeoutMs;
  server.requestTimeout = SERVER_TIMEOUTS.requestTimeoutMs;
};
