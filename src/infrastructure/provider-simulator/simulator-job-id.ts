import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isProviderName, type Period, type ProviderName } from '../../domain/report/provider-data.js';

/**
 * The simulator keeps no job table: a job id carries the whole job (provider, subject, period, submission
 * time) as base64url JSON, followed by an HMAC under a key derived from the seed. A restarted simulator —
 * Conflux runs it in-process and crash tests SIGKILL Conflux — therefore still answers for every job it
 * ever issued, and nobody can forge or alter one (e.g. move `submittedAt` back to skip the latency).
 */
export type SimulatedJob = Readonly<{
  provider: ProviderName;
  taxId: string;
  period: Period;
  /** Epoch milliseconds. */
  submittedAt: number;
}>;

type Payload = { v: 1; p: ProviderName; s: string; f: string; t: string; at: number };

const MAC_BYTES = 16;

export class JobIdCodec {
  private readonly key: Buffer;

  constructor(seed: number) {
    this.key = createHash('sha256').update(`conflux-provider-simulator:${seed}`).digest();
  }

  encode(job: SimulatedJob): string {
    const payload: Payload = {
      v: 1,
      p: job.provider,
      s: job.taxId,
      f: job.period.from,
      t: job.period.to,
      at: job.submittedAt,
    };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  /** The job, or undefined for anything this simulator (with this seed) did not issue. */
  decode(jobId: string): SimulatedJob | undefined {
    const dot = jobId.indexOf('.');
    if (dot <= 0 || jobId.length > 1024) return undefined;
    const body = jobId.slice(0, dot);
    const given = Buffer.from(jobId.slice(dot + 1), 'base64url');
    if (given.length !== MAC_BYTES || !timingSafeEqual(given, this.mac(body))) return undefined;
    try {
      const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<Payload>;
      if (p.v !== 1 || typeof p.p !== 'string' || !isProviderName(p.p)) return undefined;
      if (typeof p.s !== 'string' || typeof p.f !== 'string' || typeof p.t !== 'string') return undefined;
      if (typeof p.at !== 'number') return undefined;
      return { provider: p.p, taxId: p.s, period: { from: p.f, to: p.t }, submittedAt: p.at };
    } catch {
      return undefined;
    }
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
  }
}
