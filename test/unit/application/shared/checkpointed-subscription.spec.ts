import type { EventStore, RecordedEvent } from '../../../../src/application/ports/event-store.port.js';
import type { Logger } from '../../../../src/application/ports/logger.port.js';
import {
  runCheckpointedSubscription,
  subscriptionRetryDelay,
} from '../../../../src/application/shared/checkpointed-subscription.js';

describe('subscriptionRetryDelay', () => {
  const retry = { baseMs: 1000, capMs: 30_000 };

  it('given successive failures, then the pause doubles, within [half, whole] of base × 2^(n−1)', () => {
    expect([1, 2, 3, 4].map((n) => subscriptionRetryDelay(retry, n, () => 1))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect([1, 2, 3, 4].map((n) => subscriptionRetryDelay(retry, n, () => 0))).toEqual([
      500, 1000, 2000, 4000,
    ]);
  });

  it('given many failures, then it never exceeds the cap', () => {
    expect(subscriptionRetryDelay(retry, 50, () => 1)).toBe(30_000);
    expect(subscriptionRetryDelay(retry, 50, () => 0)).toBe(15_000);
  });
});

type Line = { level: string; message: string; fields: Record<string, unknown> };

const recordingLogger = (lines: Line[]): Logger => {
  const at = (level: string) => (fields: Record<string, unknown> | string, message?: string) =>
    lines.push(
      typeof fields === 'string'
        ? { level, message: fields, fields: {} }
        : { level, message: message ?? '', fields },
    );
  const logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger as unknown as Logger;
};

describe('runCheckpointedSubscription', () => {
  it('given a database down for several retries, then it logs one warning, backs off, and one recovery', async () => {
    const lines: Line[] = [];
    const abort = new AbortController();
    let calls = 0;
    const calledAt: number[] = [];
    const handled: RecordedEvent[][] = [];
    const event = { checkpoint: '1' } as unknown as RecordedEvent;
    const store = {
      async *subscribeToAllPages({ signal }: { signal: AbortSignal }) {
        yield [event];
        if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve));
      },
    } as unknown as EventStore;

    const run = runCheckpointedSubscription(
      store,
      {
        name: 'reports:acme',
        filter: {},
        loadCheckpoint: async () => {
          calls += 1;
          calledAt.push(Date.now());
          if (calls <= 4) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
          return undefined;
        },
        handle: async (events) => {
          handled.push([...events]);
          abort.abort();
        },
      },
      abort.signal,
      recordingLogger(lines),
      { baseMs: 20, capMs: 80 },
    );
    await run;

    expect(calls).toBe(5);
    expect(handled).toHaveLength(1);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].fields).toMatchObject({ subscription: 'reports:acme', step: 'checkpoint' });
    expect(JSON.stringify(warnings[0].fields)).not.toContain('    at '); // no stack trace
    expect(lines.filter((l) => l.message === 'subscription recovered')).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(0);
    // Pauses grow: at least half of 20, 40, 80, 80 ms.
    const gaps = calledAt.slice(1).map((t, i) => t - calledAt[i]);
    [10, 20, 40, 40].forEach((least, i) => expect(gaps[i]).toBeGreaterThanOrEqual(least - 2));
  });

  it('given a shutdown during a long backoff, then it returns at once', async () => {
    const abort = new AbortController();
    const store = { subscribeToAllPages: async function* () {} } as unknown as EventStore;
    const started = Date.now();
    const run = runCheckpointedSubscription(
      store,
      {
        name: 'x',
        filter: {},
        loadCheckpoint: async () => {
          setImmediate(() => abort.abort());
          throw new Error('down');
        },
        handle: async () => undefined,
      },
      abort.signal,
      recordingLogger([]),
      { baseMs: 60_000, capMs: 60_000 },
    );
    await run;
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
