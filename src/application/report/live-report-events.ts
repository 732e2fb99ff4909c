import { Inject, Injectable, Optional, type BeforeApplicationShutdown } from '@nestjs/common';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../ports/event-store.port.js';
import { LOGGER, type Logger } from '../ports/logger.port.js';
import { TRACING, type Tracing, noTracing } from '../ports/tracing.port.js';
import { REPORT_CATEGORY } from './report-stream.js';

export type FollowedStream = Readonly<{
  /** The whole stream as read after the listener was registered. */
  initial: readonly RecordedEvent[];
  /**
   * Every later event of the stream, each revision once and in order. Returns when the signal given to
   * `follow` aborts or at shutdown; throws when the shared subscription fails (the client reconnects).
   */
  live: AsyncIterable<RecordedEvent>;
}>;

type Delivery = { kind: 'event'; event: RecordedEvent } | { kind: 'resync' } | { kind: 'end' };

/** One follower's inbox: events arrive from the shared loop whenever they come; the follower takes them in order. */
class Listener {
  private readonly queue: RecordedEvent[] = [];
  private resync = false;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly streamName: string) {}

  push(event: RecordedEvent): void {
    this.queue.push(event);
    this.notify();
  }

  requestResync(): void {
    this.resync = true;
    this.notify();
  }

  end(error?: unknown): void {
    this.ended = true;
    if (error !== undefined)
      this.error ??=
        error instanceof Error ? error : new Error('Live report events failed', { cause: error });
    this.notify();
  }

  async take(): Promise<Delivery> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      if (this.ended) return { kind: 'end' };
      if (this.resync) {
        this.resync = false;
        // The re-read covers whatever is queued so far; later duplicates are dropped by revision.
        return { kind: 'resync' };
      }
      const event = this.queue.shift();
      if (event) return { kind: 'event', event };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

type Run = { readonly abort: AbortController; proven: boolean };

/** How often every follower re-reads its stream's tail, whatever arrives: a bound on any missed delivery. */
const RESYNC_EVERY_MS = 15_000;

/**
 * Live events of report streams for every follower in this process over ONE subscription to the log
 * (`report` category), running while anyone follows and dispatched in memory by stream name: a
 * subscription per follower made every append cost one log query per open SSE stream.
 *
 * Ordering rule: a follower is registered first, then its stream is read, then only events with a greater
 * revision than the last one read are passed on. An event committed before registration is in the read; one
 * committed after it reaches the inbox (the shared reader never skips an event, see `EventStore.readAll`).
 *
 * Where the shared subscription starts: the port has no cheap "end of the log", so it starts after the last
 * event of the first follower's stream. That checkpoint came from a stream read, not from the log in commit
 * order, so a transaction still open then may commit an event before it that the subscription never yields.
 * Such a transaction has finished once the subscription yields its first event (the log is returned only
 * below every open transaction), so at that moment every follower registered so far re-reads its stream's
 * tail. A follower that sees a revision gap re-reads the tail as well.
 */
@Injectable()
export class LiveReportEvents implements BeforeApplicationShutdown {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly logger: Logger;
  private run: Run | undefined;
  private count = 0;
  private closed = false;

  private readonly tracing: Tracing;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LOGGER) logger: Logger,
    @Optional() @Inject(TRACING) tracing?: Tracing,
  ) {
    this.logger = logger.child({ component: 'live-report-events' });
    this.tracing = tracing ?? noTracing;
  }

  beforeApplicationShutdown(): void {
    this.closed = true;
    this.endAll();
  }

  /** Followers registered now, over all streams (for tests and diagnostics: 0 once every client left). */
  get followers(): number {
    return this.count;
  }

  /** Registers for `streamName`, then reads it; the registration ends when `signal` aborts. */
  async follow(streamName: string, signal: AbortSignal): Promise<FollowedStream> {
    const listener = new Listener(streamName);
    if (this.closed || signal.aborted) listener.end();
    else this.add(listener);
    const leave = (): void => {
      listener.end();
      this.remove(listener);
    };
    signal.addEventListener('abort', leave, { once: true });
    let initial: RecordedEvent[];
    try {
      initial = await this.store.readStream(streamName);
    } catch (error) {
      signal.removeEventListener('abort', leave);
      leave();
      throw error;
    }
    return { initial, live: this.live(listener, initial.at(-1)?.revision ?? -1, signal, leave) };
  }

  private async *live(
    listener: Listener,
    lastRead: number,
    signal: AbortSignal,
    leave: () => void,
  ): AsyncGenerator<RecordedEvent> {
    let last = lastRead;
    try {
      for (;;) {
        const delivery = await listener.take();
        if (delivery.kind === 'end') return;
        if (delivery.kind === 'event' && delivery.event.revision <= last) continue;
        if (delivery.kind === 'event' && delivery.event.revision === last + 1) {
          last = delivery.event.revision;
          yield delivery.event;
          continue;
        }
        // A resync, or a gap: the stream itself has everything after `last`, the gap's event included.
        for (const event of await this.store.readStream(listener.streamName, { fromRevision: last + 1 })) {
          if (event.revision <= last) continue;
          last = event.revision;
          yield event;
        }
      }
    } finally {
      signal.removeEventListener('abort', leave);
      leave();
    }
  }

  private add(listener: Listener): void {
    let set = this.listeners.get(listener.streamName);
    if (!set) this.listeners.set(listener.streamName, (set = new Set()));
    set.add(listener);
    this.count += 1;
    // A follower registered before the subscription's start is known to be safe re-reads once it is.
    if (!this.run) this.startRun(listener.streamName);
  }

  private remove(listener: Listener): void {
    const set = this.listeners.get(listener.streamName);
    if (!set?.delete(listener)) return;
    if (set.size === 0) this.listeners.delete(listener.streamName);
    this.count -= 1;
    if (this.count === 0) this.stopRun();
  }

  private endAll(error?: unknown): void {
    this.stopRun();
    for (const set of this.listeners.values()) for (const listener of set) listener.end(error);
    this.listeners.clear();
    this.count = 0;
  }

  private stopRun(): void {
    this.run?.abort.abort();
    this.run = undefined;
  }

  private startRun(hintStream: string): void {
    const run: Run = { abort: new AbortController(), proven: false };
    this.run = run;
    // Safety net for the one case the start rule leaves open (an event committed below the start point
    // while nothing else is appended afterwards): every follower re-reads its stream's tail now and then.
    const sweep = setInterval(() => this.resyncAll(), RESYNC_EVERY_MS);
    sweep.unref();
    run.abort.signal.addEventListener('abort', () => clearInterval(sweep), { once: true });
    // Started by the first follower's request, it outlives it: not part of that request's trace.
    void this.tracing.detached(() => this.consume(run, hintStream));
  }

  private resyncAll(): void {
    for (const set of this.listeners.values()) for (const listener of set) listener.requestResync();
  }

  private async consume(run: Run, hintStream: string): Promise<void> {
    const { signal } = run.abort;
    try {
      const [hint] = await this.store.readStream(hintStream, { direction: 'backwards', maxCount: 1 });
      for await (const event of this.store.subscribeToAll({
        after: hint?.checkpoint,
        filter: { categories: [REPORT_CATEGORY] },
        signal,
      })) {
        if (signal.aborted) break;
        if (!run.proven) {
          run.proven = true;
          this.resyncAll();
        }
        for (const listener of this.listeners.get(event.streamName) ?? []) listener.push(event);
      }
      // Returned without our abort: the store is closing. Nobody would be told of later events.
      if (!signal.aborted) this.endAll();
    } catch (error) {
      if (signal.aborted) return;
      this.logger.warn({ err: error }, 'Live report events: the shared subscription failed');
      // Every follower ends with the error (SSE clients reconnect with Last-Event-ID); the next one restarts it.
      this.endAll(error);
    } finally {
      if (this.run === run) this.run = undefined;
    }
  }
}
