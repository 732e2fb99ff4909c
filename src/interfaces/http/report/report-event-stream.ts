import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
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

  async stream(
    visible: Report,
    lastEventId: string | undefined,
    res: Response,
    present: (report: Report) => Promise<ReportResource>,
  ): Promise<void> {
    const abort = new AbortController();
    this.open.add(abort);
    // The response's close is the client going away (or our end): either way the subscription stops.
    res.on('close', () => abort.abort());
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), this.options.heartbeatMs);

    const send = async (report: Report, revision: number) => {
      const event = isFinal(report.status) ? report.status : 'progress';
      res.write(`event: ${event}\nid: ${revision}\ndata: ${JSON.stringify(await present(report))}\n\n`);
      return isFinal(report.status);
    };

    try {
      const name = reportStream(visible.tenantId, visible.id);
      // A final report never changes: no need to follow it.
      const followed = isFinal(visible.status)
        ? { initial: await this.store.readStream(name), live: undefined }
        : await this.live.follow(name, abort.signal);
      const events = followed.initial;
      let report = fold(reportDecider, events.map(readReportEvent));
      const last = events[events.length - 1];
      const seen = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : -1;
      let done = seen >= last.revision && isFinal(report.status);
      if (!done && seen < last.revision) done = await send(report, last.revision);
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
      res.end();
    }
  }
}
