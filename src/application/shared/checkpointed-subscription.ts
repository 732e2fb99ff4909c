import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../ports/logger.port.js';
import type { Checkpoint, EventStore, LogFilter, RecordedEvent } from '../ports/event-store.port.js';

/** Events per transaction at most, for every checkpointed consumer. */
const PAGE_SIZE = 1000;

export type SubscriptionSpec = Readonly<{
  name: string;
  filter: LogFilter;
  /** Where to resume: the checkpoint the handler last stored with its effect. */
  loadCheckpoint: () => Promise<Checkpoint | undefined>;
  /**
   * Applies a page of events (in log order) and stores the last one's checkpoint atomically with the
   * effect: one transaction per page, and a crash re-delivers the whole page (at-least-once).
   */
  handle: (events: readonly RecordedEvent[]) => Promise<void>;
}>;

/** Pauses between restarts of a failing subscription: exponential from `baseMs`, capped at `capMs`. */
export type SubscriptionRetry = Readonly<{ baseMs: number; capMs: number }>;

export const defaultSubscriptionRetry: SubscriptionRetry = { baseMs: 1000, capMs: 30_000 };

/**
 * The pause before restart number `failures` (1 after the first failure): `baseMs × 2^(failures−1)`,
 * capped at `capMs`, then "equal jitter" — uniformly in [half, whole] of it — so that many subscriptions
 * failing together (one database, many tenants) do not retry in lockstep. Milliseconds. Source: the AWS
 * Architecture Blog, "Exponential Backoff And Jitter".
 */
export const subscriptionRetryDelay = (
  retry: SubscriptionRetry,
  failures: number,
  random: () => number = Math.random,
): number => {
  const exponential = Math.min(retry.capMs, retry.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + (exponential / 2) * random());
};

/** Where a run failed: a failure counts as resolved when that same step next succeeds. */
type Step = 'checkpoint' | 'read' | 'handle';

const describe = (error: unknown) =>
  error instanceof Error
    ? { type: error.name, code: (error as { code?: unknown }).code, message: error.message }
    : { message: String(error) };

/**
 * Runs a checkpointed subscription until `signal` aborts. Any error restarts it from the stored
 * checkpoint after a backoff (`subscriptionRetryDelay`), so a consumer never skips an event and never
 * needs state in memory. It logs once per change of state — a warning when it starts failing, info when
 * the failing step works again — and the repeats in between only at debug level: an unreachable tenant
 * database is one line, not a stack trace a second.
 */
export const runCheckpointedSubscription = async (
  store: EventStore,
  spec: SubscriptionSpec,
  signal: AbortSignal,
  logger: Logger,
  retry: SubscriptionRetry = defaultSubscriptionRetry,
): Promise<void> => {
  let failures = 0;
  let failedStep: Step | undefined;
  let since = 0;
  const succeeded = (step: Step) => {
    if (failedStep !== step) return;
    logger.info(
      { subscription: spec.name, failures, downForMs: Date.now() - since },
      'subscription recovered',
    );
    failedStep = undefined;
    failures = 0;
  };

  while (!signal.aborted) {
    let step: Step = 'checkpoint';
    try {
      const after = await spec.loadCheckpoint();
      succeeded('checkpoint');
      step = 'read';
      for await (const page of store.subscribeToAllPages({
        ...(after ? { after } : {}),
        filter: spec.filter,
        signal,
        // Large pages while catching up (a replay); live pages are as small as what just arrived.
        batchSize: PAGE_SIZE,
      })) {
        step = 'handle';
        await spec.handle(page);
        succeeded('handle');
        succeeded('read');
        step = 'read';
      }
    } catch (error) {
      if (signal.aborted) return;
      failures += 1;
      if (failedStep === undefined) {
        failedStep = step;
        since = Date.now();
        logger.warn(
          { subscription: spec.name, step, err: describe(error) },
          'subscription failing; retrying from its checkpoint with backoff',
        );
      } else {
        failedStep = step;
        logger.debug(
          { subscription: spec.name, step, failures, err: describe(error) },
          'subscription still failing',
        );
      }
      try {
        await sleep(subscriptionRetryDelay(retry, failures), undefined, { signal });
      } catch {
        return; // aborted while waiting: shutting down
      }
    }
  }
};
