import { Agent, request } from 'node:http';

/**
 * An open-loop HTTP load generator, run as its own process (`node dist/bench/load-generator.js`) so its
 * work does not share an event loop with the server or the bench. Reads one JSON `LoadPlan` on stdin,
 * sends `POST plan.path` at a fixed rate whatever the answers, and prints one JSON `LoadResult` line.
 *
 * Request i is due at start + i / rate; its latency is counted from that due time, not from when it was
 * actually written, so a server (or generator) that falls behind shows up in the percentiles instead of
 * silently lowering the rate (no coordinated omission). Bounded: `rate × durationMs` requests after
 * `warmupMs` of the same traffic, and every request still open `timeoutMs` after the last one is due is
 * aborted and counted as an error; then the process exits.
 */
export type LoadPlan = Readonly<{
  /** e.g. `http://127.0.0.1:3000` (loopback only). */
  base: string;
  path: string;
  ratePerSecond: number;
  durationMs: number;
  /** Same traffic before the measured part, not counted (JIT, pools, tenant databases warm). */
  warmupMs: number;
  timeoutMs: number;
  maxSockets: number;
  /** Request i uses tokens[i % tokens.length]. */
  tokens: readonly string[];
  body: string;
  /** Idempotency-Key of request i is `${keyPrefix}-${i}` (unique per request). */
  keyPrefix: string;
  /** The status counted as success. */
  okStatus: number;
}>;

export type LoadResult = Readonly<{
  sent: number;
  completed: number;
  ok: number;
  errors: number;
  /** Status (or `network`/`timeout`) → count, for the measured part only. */
  statuses: Record<string, number>;
  /** Latency from due time, ms, sorted ascending (successes only). */
  latenciesMs: number[];
  /** Latency from the moment the request was handed to the socket pool, ms, sorted (successes only). */
  serviceMs: number[];
  /** How late the generator handed requests over, ms: p99 and max of (sent − due). */
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  /** p99 latency (ms) of the successes due in each 5-second slice of the measured part, in order. */
  p99By5s: number[];
  /** Achieved rate: measured requests completed / (last completion − first due), per second. */
  achievedRatePerSecond: number;
  elapsedMs: number;
}>;

const readStdin = async (): Promise<string> => {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
};

const run = async (plan: LoadPlan): Promise<LoadResult> => {
  const url = new URL(plan.base);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost')
    throw new Error(`load goes to loopback only, not ${url.hostname}`);
  const agent = new Agent({ keepAlive: true, maxSockets: plan.maxSockets });
  const intervalMs = 1000 / plan.ratePerSecond;
  const warmup = Math.round((plan.ratePerSecond * plan.warmupMs) / 1000);
  const total = warmup + Math.round((plan.ratePerSecond * plan.durationMs) / 1000);
  const body = Buffer.from(plan.body);
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const service: number[] = [];
  const sendLag: number[] = [];
  const slices: number[][] = [];
  let sent = 0;
  let completed = 0;
  let ok = 0;
  let lastDone = 0;
  const open = new Set<() => void>();
  const start = performance.now() + 20;
  const measuredFrom = start + warmup * intervalMs;

  await new Promise<void>((finished) => {
    const settle = (i: number, due: number, handed: number, outcome: string) => {
      completed++;
      const now = performance.now();
      if (i >= warmup) {
        statuses[outcome] = (statuses[outcome] ?? 0) + 1;
        lastDone = Math.max(lastDone, now);
        if (outcome === String(plan.okStatus)) {
          ok++;
          latencies.push(now - due);
          service.push(now - handed);
          (slices[Math.floor((due - measuredFrom) / 5000)] ??= []).push(now - due);
        }
      }
      if (completed === total) finished();
    };
    const send = (i: number, due: number) => {
      const handed = performance.now();
      if (i >= warmup) sendLag.push(handed - due);
      let done = false;
      const finish = (outcome: string) => {
        if (done) return;
        done = true;
        open.delete(abort);
        settle(i, due, handed, outcome);
      };
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: plan.path,
          headers: {
            authorization: `Bearer ${plan.tokens[i % plan.tokens.length]}`,
            'content-type': 'application/json',
            'content-length': body.length,
            'idempotency-key': `${plan.keyPrefix}-${i}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => finish(String(res.statusCode)));
          res.on('error', () => finish('network'));
        },
      );
      const abort = () => {
        req.destroy();
        finish('timeout');
      };
      open.add(abort);
      req.on('error', () => finish('network'));
      req.end(body);
    };
    // One timer chases the schedule: each tick sends everything due by now, so a late tick catches up.
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        send(sent, start + sent * intervalMs);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
      else
        setTimeout(() => {
          for (const abort of [...open]) abort();
        }, plan.timeoutMs).unref();
    };
    setTimeout(tick, 20);
  });
  agent.destroy();

  const measured = total - warmup;
  latencies.sort((a, b) => a - b);
  service.sort((a, b) => a - b);
  sendLag.sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    sent: measured,
    completed: Object.values(statuses).reduce((a, b) => a + b, 0),
    ok,
    errors: measured - ok,
    statuses,
    latenciesMs: latencies.map(round),
    serviceMs: service.map(round),
    sendLagP99Ms: round(sendLag[Math.ceil(sendLag.length * 0.99) - 1] ?? 0),
    sendLagMaxMs: round(sendLag.at(-1) ?? 0),
    p99By5s: [...slices].map((slice) => {
      const sorted = (slice ?? []).sort((a, b) => a - b);
      return Math.round(sorted[Math.ceil(sorted.length * 0.99) - 1] ?? NaN);
    }),
    achievedRatePerSecond: round((ok * 1000) / Math.max(1, lastDone - measuredFrom)),
    elapsedMs: Math.round(performance.now() - start),
  };
};

const plan = JSON.parse(await readStdin()) as LoadPlan;
process.stdout.write(`${JSON.stringify(await run(plan))}\n`);
process.exit(0);
