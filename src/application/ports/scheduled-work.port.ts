import type { CheckpointMove } from './checkpoint-fence.port.js';
import type { AppendResult, Checkpoint, ExpectedRevision, NewEvent } from './event-store.port.js';
import type { Period, ProviderName } from '../../domain/report/provider-data.js';

/**
 * Durable timers of the report process manager: a table of due work that any worker claims with a lease
 * (FOR UPDATE SKIP LOCKED). It is a projection of the report events (rebuildable from the log), written
 * together with its checkpoint, so a crash can neither lose nor double-apply a scheduled poll. The worker
 * that holds a row's lease also moves the row itself right after its append (fenced by the lease token),
 * so a lagging projection never makes a step run twice.
 *
 * The table is shared with webhook deliveries (WebhookQueue): each row belongs to one queue, and
 * everything here — claims, due times, the projection's deletes — sees only the report queue's rows.
 *
 * One clock: every due time, lease and deadline is computed and compared on the database's clock
 * (`now()`), never on the caller's; callers pass delays, not instants.
 */
export const SCHEDULED_WORK = Symbol('ScheduledWork');

/**
 * `submit` a provider job, `poll` it, `generate` the files once every provider is done, or `expire` a
 * final report's objects when its retention ends.
 */
export type WorkKind = 'submit' | 'poll' | 'generate' | 'expire';

/** One row per report and step: the provider's name, `generation`, or `retention`. */
export type WorkStep = ProviderName | 'generation' | 'retention';

export type WorkItem = Readonly<{
  tenantId: string;
  reportId: string;
  step: WorkStep;
  kind: WorkKind;
  /** Poll attempt scheduled by the last ProviderPollScheduled (0 before the job exists). */
  attempt: number;
  /**
   * Claims of the row since it last moved forward, this claim included: counted when the row is claimed,
   * so a step whose worker dies every time (crash loop) is counted too and ends.
   */
  claims: number;
  jobId: string | null;
  dueAt: Date;
  deadlineAt: Date;
  subject: { taxId: string };
  period: Period;
  /** W3C traceparent of the request that created the report. */
  traceparent?: string;
  /** Fencing token of this claim: increases with every claim of the row; effects check it. */
  leaseToken: number;
}>;

/** What the projection inserts for a new report: due now and with a deadline, both on the database clock. */
export type NewWorkItem = Omit<WorkItem, 'dueAt' | 'deadlineAt' | 'leaseToken' | 'claims'> & {
  deadlineInMs: number;
};

export type WorkChange =
  | { op: 'upsert'; item: NewWorkItem }
  | { op: 'job'; tenantId: string; reportId: string; step: WorkStep; jobId: string }
  /** Moves a row to a later poll; ignored when the row already has this attempt or a later one. */
  | { op: 'schedule'; tenantId: string; reportId: string; step: WorkStep; attempt: number; dueAt: Date }
  | { op: 'delete'; tenantId: string; reportId: string; step?: WorkStep }
  /**
   * Adds the generation row (due now) when no provider row of the report remains; it carries the
   * report's traceparent, so ReportReady does too.
   */
  | { op: 'generate-when-providers-done'; tenantId: string; reportId: string; traceparent?: string }
  /**
   * Adds the retention row of a final report (kept as it is when it exists), due at `dueAt` — an instant
   * on the database's clock — or `inMs` milliseconds after the database's now() when the change is applied
   * (for an instant an app clock wrote: one clock).
   */
  | ({ op: 'expire-at'; tenantId: string; reportId: string } & ({ dueAt: Date } | { inMs: number }));

/** Where a worker moves the row it holds after its append. */
export type RowMove =
  /** The step is finished (result, failure, files): the row goes. */
  | { to: 'delete' }
  /** Try the same step again after `delayMs` (a transient error). */
  | { to: 'retry'; delayMs: number }
  /** Poll `attempt` of job `jobId` after `delayMs`; the claim count starts again. */
  | { to: 'poll'; attempt: number; jobId: string; delayMs: number };

export type Claimed = Readonly<{ items: WorkItem[]; /** The database's clock at the claim. */ now: Date }>;

export interface ScheduledWork {
  /**
   * Applies the changes of a page of events, in order, and stores the projection's checkpoint, atomically: as
   * if each change ran alone, one after the other. The checkpoint move is fenced (compare-and-set,
   * checkpoint-fence.port.ts): when the stored checkpoint is no longer `move.after`, it rejects with
   * CheckpointMoved and applies nothing.
   */
  apply(projection: string, move: CheckpointMove, changes: readonly WorkChange[]): Promise<void>;
  checkpoint(projection: string): Promise<Checkpoint | undefined>;

  /**
   * Claims up to `limit` due rows whose lease is free or expired, fairly across tenants (round robin by
   * due time within each tenant), counting one more claim on each.
   */
  claimDue(owner: string, limit: number, leaseMs: number): Promise<Claimed>;
  /** Extends the leases this claim still holds; answers the items whose lease is lost (row gone or taken). */
  renewLease(items: readonly WorkItem[], leaseMs: number): Promise<WorkItem[]>;
  /** True while this claim (its lease token) still holds the row and the lease has not expired. */
  holds(item: WorkItem): Promise<boolean>;
  /** Moves the held row and releases it; false (and no change) when the lease was lost. */
  move(item: WorkItem, move: RowMove): Promise<boolean>;
  /**
   * The fence and the append as one step: appends `events` to `streamName` with `expectedRevision` only
   * while this claim (its lease token) still holds the row, and then applies `move` (if given) to the row.
   * Rejects with LeaseLostError, having appended and moved nothing, when the lease is lost; with
   * WrongExpectedVersionError, having written nothing, when the revision does not hold. On PostgreSQL
   * all of it is one transaction (ADR 0013, "One fence, one transaction"); an event store that cannot
   * share the table's transaction degrades to check-then-append, where the expected revision is the guard.
   */
  appendFenced(
    item: WorkItem,
    streamName: string,
    events: readonly NewEvent[],
    options: { expectedRevision?: ExpectedRevision; move?: RowMove },
  ): Promise<AppendResult>;
  /** Milliseconds until the next row falls due (0 when one is due), or null when the table is empty. */
  nextDueInMs(): Promise<number | null>;
}

/** A fenced effect found that its claim no longer holds the row: nothing was written. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(readonly item: Pick<WorkItem, 'tenantId' | 'reportId' | 'step' | 'leaseToken'>) {
    super(`${item.step} of ${item.reportId}: lease ${item.leaseToken} lost`);
  }
}
