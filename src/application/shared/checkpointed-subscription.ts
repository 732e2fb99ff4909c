import { setTimeout as wait } from 'node:timers/promises';
import { CheckpointMoved } from '../ports/checkpoint-fence.port.js';
import type { Logger } from '../ports/logger.port.js';
import type { Checkpoint, EventStore, LogFilter, RecordedEvent } from '../ports/event-store.port.js';
import type { ParkedEvents } from '../ports/parked-events.port.js';
import type { SubscriptionLeadership } from '../ports/subscription-leadership.port.js';
import { type Tracing, noTracing } from '../ports/tracing.port.js';
import type { SubscriptionMonitor } from './subscription-monitor.js';

/** Events per transaction at most, for every checkpointed consumer. */
const PAGE_SIZE = 1000;

export type SubscriptionSpec = Readonly<{
  name: string;
  filter: LogFilter;
  /** Where to resume: the checkpoint the handler last stored with its effect. */
  loadCheckpoint: () => Promise<Checkpoint | undefined>;
  /**
   * Applies a page of events (in log order) and stores the last one's checkpoint atomically with the
   * effect: one transaction per page, and a crash re-delivers the whole page (at-least-once). `after` is
   * the checkpoint the page follows (undefined: none stored yet). The store is a compare-and-set on it
   * (checkpoint-fence.port.ts): when the stored checkpoint is no longer `after` — a new leader moved it
   * while this page was in flight — the page commits nothing and `handle` rejects with CheckpointMoved.
   */
  handle: (events: readonly RecordedEvent[], after: Checkpoint | undefined) => Promise<void>;
  /**
   * Stores `event.checkpoint` WITHOUT applying the event, once it has been parked (with whatever the
   * consumer does about an event it cannot apply), fenced on `after` like `handle`. Without it, poison
   * events are retried forever.
   */
  skip?: (event: RecordedEvent, after: Checkpoint | undefined) => Promise<void>;
  /**
   * True for an error that retrying cannot change (the event does not parse: its bytes will not change):
   * the event is parked at its first failure, before its report's work can repeat an effect.
   */
  isPoison?: (error: unknown) => boolean;
}>;

/** How a subscription retries, parks and reports; shared by every subscriber of the process. */
export type SubscriptionRuntime = Readonly<{
  /** Failures of one event before it is parked. Default 5. */
  maxAttempts?: number;
  /** First pause after a failure, doubled after each consecutive one up to `maxRetryDelayMs`, with jitter. Default 200. */
  retryDelayMs?: number;
  /** Default 30 000. */
  maxRetryDelayMs?: number;
  /** Source of jitter in [0, 1); tests fix it. Default Math.random. */
  random?: () => number;
  /** Where events it gives up on go (only `park` is used here). */
  parked?: Pick<ParkedEvents, 'park'>;
  monitor?: SubscriptionMonitor;
  /**
   * True for an error that says nothing about the event (database unreachable, connection lost, too many
   * clients): it is retried with backoff but never counts towards parking. Default: none is.
   */
  isTransient?: (error: unknown) => boolean;
  /** With it, a subscription runs only while this instance leads it (one consumer across instances). */
  leadership?: SubscriptionLeadership;
  /** Each subscription runs outside the trace of whoever started it (e.g. a tenant's creation). */
  tracing?: Tracing;
}>;

export const SUBSCRIPTION_RUNTIME = Symbol('SubscriptionRuntime');

/** Waits `ms`, or less when `signal` aborts first; never rejects. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  wait(ms, undefined, { signal }).catch(() => undefined);

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The pause before retry number `failures` (1 after the first failure): `baseMs × 2^(failures−1)`, capped
 * at `capMs`, then "equal jitter" — uniformly in [half, whole] of it — so that many subscriptions failing
 * together (one database, many tenants) do not retry in lockstep. Milliseconds. Source: the AWS
 * Architecture Blog, "Exponential Backoff And Jitter".
 */
export const subscriptionRetryDelay = (
  retry: Readonly<{ baseMs: number; capMs: number }>,
  failures: number,
  random: () => number = Math.random,
): number => {
  const exponential = Math.min(retry.capMs, retry.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + (exponential / 2) * random());
};

/**
 * Runs a checkpointed subscription until `signal` aborts. Any error restarts it from the stored checkpoint
 * after a pause (capped exponential backoff), so a consumer never skips an event and never needs state in
 * memory — except a poison event: when a page fails, its events are retried one at a time to find the one
 * that fails; after `maxAttempts` failures of that event (transient errors not counted) it is parked with
 * its error, skipped through `spec.skip`, and the subscription moves on (ADR 0014). A page whose fenced
 * checkpoint store finds the checkpoint moved (CheckpointMoved: another leader advanced it) restarts from
 * the stored checkpoint after one base pause (`retryDelayMs`), counting no failure and parking nothing.
 *
 * It logs once per change of state — a warning when it starts failing, info when it works again — and the
 * repeats in between at debug level, without stacks: an unreachable tenant database is one line, not a
 * stack trace a second. A parked event is an error line of its own.
 */
export const runCheckpointedSubscription = (
  store: EventStore,
  spec: SubscriptionSpec,
  signal: AbortSignal,
  logger: Logger,
  options: SubscriptionRuntime = {},
): Promise<void> => (options.tracing ?? noTracing).detached(() => lead(store, spec, signal, logger, options));

/** The subscription, contending for leadership first when the runtime has one. */
const lead = async (
  store: EventStore,
  spec: SubscriptionSpec,
  signal: AbortSignal,
  logger: Logger,
  options: SubscriptionRuntime,
): Promise<void> => {
  const leadership = options.leadership;
  if (!leadership) return consume(store, spec, signal, logger, options);
  while (!signal.aborted) {
    const lost = await leadership.lead(spec.name, signal);
    if (!lost) return;
    logger.info({ subscription: spec.name }, 'leading the subscription');
    try {
      await consume(store, spec, AbortSignal.any([signal, lost]), logger, options);
    } finally {
      await leadership.release(spec.name);
    }
    if (!signal.aborted) logger.warn({ subscription: spec.name }, 'leadership lost; contending again');
  }
};

/** The subscription itself, while `signal` (stop, or leadership lost) has not aborted. */
const consume = async (
  store: EventStore,
  spec: SubscriptionSpec,
  signal: AbortSignal,
  logger: Logger,
  options: SubscriptionRuntime,
): Promise<void> => {
  const maxAttempts = options.maxAttempts ?? 5;
  const retry = { baseMs: options.retryDelayMs ?? 200, capMs: options.maxRetryDelayMs ?? 30_000 };
  const isTransient = options.isTransient ?? (() => false);
  const monitor = options.monitor;
  monitor?.started(spec.name, spec.filter);

  /** Consecutive failures; 0 while healthy. */
  let failing = 0;
  let failingSince = 0;
  /** Events left to handle one per page after a page failed, to single out the one that fails. */
  let isolate = 0;
  const failures = new Map<string, number>();
  try {
    while (!signal.aborted) {
      let current: readonly RecordedEvent[] | undefined;
      /** The checkpoint the next page follows: what the page's store compares and sets. */
      let position: Checkpoint | undefined;
      try {
        const after = await spec.loadCheckpoint();
        position = after;
        monitor?.checkpointed(spec.name, after);
        const isolating = isolate > 0;
        let endedByStore = true;
        for await (const page of store.subscribeToAllPages({
          ...(after ? { after } : {}),
          filter: spec.filter,
          signal,
          // Large pages while catching up (a replay); live pages are as small as what just arrived.
          batchSize: isolating ? 1 : PAGE_SIZE,
        })) {
          current = page;
          await spec.handle(page, position);
          current = undefined;
          position = page[page.length - 1].checkpoint;
          monitor?.checkpointed(spec.name, position);
          for (const event of page) failures.delete(event.id);
          if (failing > 0) {
            logger.info(
              { subscription: spec.name, failures: failing, downForMs: Date.now() - failingSince },
              'subscription recovered',
            );
            failing = 0;
          }
          monitor?.recovered(spec.name);
          if (isolating && (isolate -= page.length) <= 0) {
            endedByStore = false;
            break; // back to large pages
          }
        }
        // The store ended the subscription by itself (it is closing, or gave up on its connection): take
        // it again after a pause. Resubscribing at once would spin on promises alone and starve every
        // timer of the process (seen: a closed store under a running subscription, 100 % CPU, no timeout).
        if (endedByStore && !signal.aborted) await sleep(retry.baseMs, signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof CheckpointMoved) {
          // Not the events' fault: another writer moved the checkpoint; take it up from there.
          logger.warn(
            { subscription: spec.name, after: error.expected ?? null },
            'checkpoint moved by another writer; the page rolled back, restarting from the stored checkpoint',
          );
          // One base pause, so that a store that kept finding its checkpoint moved could not spin.
          await sleep(retry.baseMs, signal);
          continue;
        }
        monitor?.failed(spec.name, messageOf(error));
        const poison = current?.length === 1 && !isTransient(error) ? current[0] : undefined;
        if (current && current.length > 1 && !isTransient(error)) {
          // Which event failed is not known yet: single it out at once, no pause.
          isolate = current.length;
          continue;
        }
        if (poison) {
          const attempts = (failures.get(poison.id) ?? 0) + 1;
          failures.set(poison.id, attempts);
          const hopeless = attempts >= maxAttempts || (spec.isPoison?.(error) ?? false);
          if (hopeless && spec.skip && options.parked) {
            try {
              await options.parked.park({
                subscription: spec.name,
                tenantId: typeof poison.metadata.tenantId === 'string' ? poison.metadata.tenantId : null,
                eventId: poison.id,
                streamName: poison.streamName,
                revision: poison.revision,
                checkpoint: poison.checkpoint,
                type: poison.type,
                error: messageOf(error),
                attempts,
                parkedAt: new Date(),
              });
              await spec.skip(poison, position);
              failures.delete(poison.id);
              isolate = Math.max(0, isolate - 1);
              logger.error(
                { subscription: spec.name, eventId: poison.id, type: poison.type, attempts, err: error },
                'event parked: the subscription moves past it',
              );
              continue;
            } catch (parkError) {
              if (parkError instanceof CheckpointMoved) {
                logger.warn(
                  { subscription: spec.name, eventId: poison.id },
                  'checkpoint moved by another writer while skipping a parked event; restarting',
                );
                continue;
              }
              logger.warn({ subscription: spec.name, err: parkError }, 'parking failed; retrying');
            }
          }
        }
        failing += 1;
        const delay = subscriptionRetryDelay(retry, failing, options.random);
        const fields = {
          subscription: spec.name,
          err: { type: error instanceof Error ? error.name : 'non-error', message: messageOf(error) },
          retryInMs: delay,
          ...(poison ? { eventId: poison.id } : {}),
        };
        if (failing === 1) {
          failingSince = Date.now();
          logger.warn(fields, 'subscription failing; retrying from its checkpoint with backoff');
        } else logger.debug({ ...fields, failures: failing }, 'subscription still failing');
        await sleep(delay, signal);
      }
    }
  } finally {
    monitor?.stopped(spec.name);
  }
};
