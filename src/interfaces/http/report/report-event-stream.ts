import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Socket } from 'node:net';
import type { Response } from 'express';
import { EVENT_STORE, type EventStore } from '../../../application/ports/event-store.port.js';
import type { ReportResource } from '../../../application/report/report-resource.js';
import { LiveReportEvents } from '../../../application/report/live-report-events.js';
import { reportStream } from '../../../application/report/report-stream.js';
import { type Report, isFinal, reportDecider } from '../../../domain/report/report.decider.js';
import { readReportEvent } from '../../../application/report/report-event-codec.js';
import { fold } from '../../../domain/shared/decider.js';
import { REPORT_HTTP_OPTIONS, type ReportHttpOptions } from './report-http.options.js';

/**
 * Live progress of one report over SSE. Every message has `id:` = the stream revision it reflects, so a
 * browser that reconnects with Last-Event-ID gets only what it missed. The live part comes from the one
 * shared subscription of the process (`LiveReportEvents`), which hands over the stream as read after
 * registering and then each later revision exactly once.
 */
@Injectable()
export class ReportEventStream implements BeforeApplicationShutdown {
  private readonly open = new Set<AbortController>();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly live: LiveReportEvents,
    @Inject(REPORT_HTTP_OPTIONS) private readonly options: ReportHttpOptions,
  ) {}

  beforeApplicationShutdown(): void {
    for (const stream of this.open) stream.abort();
  }

  /**
   * Answers one SSE request on `res` (Express's, its request at `res.req`): 204 when the client already has
   * the final revision (`Last-Event-ID`; an EventSource stops reconnecting on 204, never on an empty 200),
   * else 200 with the missed state and every later revision until the final one. The live registration is
   * released as soon as the client goes away, whenever that is — before this method runs included.
   */
  async stream(
    visible: Report,
    lastEventId: string | undefined,
    res: Response,
    present: (report: Report) => Promise<ReportResource>,
  ): Promise<void> {
    const abort = new AbortController();
    let left = false;
    const gone = (): void => {
      left = true;
      abort.abort();
    };
    // A client can leave during authentication or the report read, before this method runs: its close
    // event has fired already, so the state is checked too. The response's close is also our own end.
    const socket = res.req.socket as Socket | null;
    res.once('close', gone);
    res.req.once('aborted', gone);
    socket?.once('close', gone);
    if (res.destroyed || res.writableEnded || !socket || socket.destroyed) gone();
    this.open.add(abort);
    let heartbeat: NodeJS.Timeout | undefined;

    const send = async (report: Report, revision: number) => {
      const event = isFinal(report.status) ? report.status : 'progress';
      res.write(`event: ${event}\nid: ${revision}\ndata: ${JSON.stringify(await present(report))}\n\n`);
      return isFinal(report.status);
    };

    try {
      if (abort.signal.aborted) return;
      const name = reportStream(visible.tenantId, visible.id);
      // A final report never changes: no need to follow it.
      const followed = isFinal(visible.status)
        ? { initial: await this.store.readStream(name), live: undefined }
        : await this.live.follow(name, abort.signal);
      if (abort.signal.aborted) return;
      const events = followed.initial;
      let report = fold(reportDecider, events.map(readReportEvent));
      const last = events[events.length - 1];
      const seen = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : -1;
      if (seen >= last.revision && isFinal(report.status)) {
        res.status(204).end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        // no-store like every /v1 answer (the final event carries signed download links); writeHead would
        // otherwise replace the security headers' no-store. no-transform keeps proxies from buffering.
        'Cache-Control': 'no-store, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.flushHeaders();
      heartbeat = setInterval(() => res.write(': heartbeat\n\n'), this.options.heartbeatMs);
      let done = false;
      if (seen < last.revision) done = await send(report, last.revision);
      if (!done && followed.live) {
        for await (const recorded of followed.live) {
          report = reportDecider.evolve(report, readReportEvent(recorded));
          if (await send(report, recorded.revision)) break;
        }
      }
    } finally {
      clearInterval(heartbeat);
      this.open.delete(abort);
      abort.abort();
      res.off('close', gone);
      res.req.off('aborted', gone);
      socket?.off('close', gone);
      if (res.headersSent) res.end();
      // Nobody to answer; an error before the headers (no `left`) goes on to the problem filter instead.
      else if (left && !res.destroyed) res.destroy();
    }
  }

  /** SSE requests being answered now (for tests and diagnostics). */
  get openStreams(): number {
    return this.open.size;
  }
}
