import type { Checkpoint } from './event-store.port.js';
import type { Period, ProviderName } from '../../domain/report/provider-data.js';

/**
 * Durable timers of the report process manager: a table of due work that any worker claims with a lease
 * (FOR UPDATE SKIP LOCKED). It is a projection of the report events (rebuildable from the log), written
 * together with its checkpoint, so a crash can neither lose nor double-apply a scheduled poll.
 */
export const SCHEDULED_WORK = Symbol('ScheduledWork');

/** `submit` a provider job, `poll` it, or `generate` the files once every provider is done. */
export type WorkKind = 'submit' | 'poll' | 'generate';

/** One row per report and step: the provider's name, or `generation`. */
export type WorkStep = ProviderName | 'generation';

export type WorkItem = Readonly<{
  tenantId: string;
  reportId: string;
  step: WorkStep;
  kind: WorkKind;
  /** Poll attempt scheduled by the last ProviderPollScheduled (0 before the job exists). */
  attempt: number;
  /** Failed tries of this step that did not produce an event (transient submit errors, generation errors). */
  retries: number;
  jobId: string | null;
  dueAt: Date;
  deadlineAt: Date;
  subject: { taxId: string };
  period: Period;
  /** W3C traceparent of the request that created the report. */
  traceparent?: string;
}>;

export type WorkChange =
  | { op: 'upsert'; item: WorkItem }
  /** Moves a row to a later poll; ignored when the row already has this attempt or a later one. */
  | { op: 'job'; tenantId: string; reportId: string; step: WorkStep; jobId: string }
  | { op: 'schedule'; tenantId: string; reportId: string; step: WorkStep; attempt: number; dueAt: Date }
  | { op: 'delete'; tenantId: string; reportId: string; step?: WorkStep }
  /** Adds the generation row when no provider row of the report remains. */
  | { op: 'generate-when-providers-done'; tenantId: string; reportId: string; dueAt: Date };

export interface ScheduledWork {
  /** Applies the changes of one event and stores the projection's checkpoint, atomically. */
  apply(projection: string, checkpoint: Checkpoint, changes: readonly WorkChange[]): Promise<void>;
  checkpoint(projection: string): Promise<Checkpoint | undefined>;

  /** Claims up to `limit` due rows whose lease is free or expired. */
  claimDue(owner: string, limit: number, leaseMs: number): Promise<WorkItem[]>;
  /** Extends the lease of rows this owner still holds (long generation). */
  renewLease(owner: string, items: readonly WorkItem[], leaseMs: number): Promise<void>;
  /** Releases a claimed row to run again at `dueAt`, counting one more retry. */
  retryLater(owner: string, item: WorkItem, dueAt: Date): Promise<void>;
  /** When the next row falls due (to sleep until then), or null. */
  nextDueAt(): Promise<Date | null>;
}
