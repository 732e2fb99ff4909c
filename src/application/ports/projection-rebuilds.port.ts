import { DomainError } from '../../domain/shared/decider.js';

/**
 * The record of every projection rebuild an operator started (issue 11): what, for which tenant, how far,
 * and how it ended. Stored in the control database, so any instance can show or resume it.
 */
export const PROJECTION_REBUILDS = Symbol('ProjectionRebuilds');

export type RebuildStatus = 'running' | 'completed' | 'failed';

export type ProjectionRebuild = Readonly<{
  id: string;
  /** The projection's name (`reports`). */
  name: string;
  tenantId: string;
  status: RebuildStatus;
  /** Events applied to the new read model so far, across resumptions. */
  eventsApplied: number;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** Why it failed (a message, never a stack). */
  error: string | null;
}>;

export interface ProjectionRebuilds {
  /** Records a running rebuild; rejects with RebuildAlreadyRunning while one of `name` runs for the tenant. */
  create(rebuild: Readonly<{ id: string; name: string; tenantId: string }>): Promise<ProjectionRebuild>;
  get(id: string): Promise<ProjectionRebuild | null>;
  /** Every rebuild still running (to resume after a crash or on another instance). */
  running(): Promise<ProjectionRebuild[]>;
  /** Adds `applied` events to the count. */
  progress(id: string, applied: number): Promise<void>;
  finish(
    id: string,
    outcome: Readonly<{ status: 'completed' } | { status: 'failed'; error: string }>,
  ): Promise<void>;
}

export class RebuildAlreadyRunning extends DomainError {
  constructor(
    readonly projection: string,
    readonly tenantId: string,
    readonly runningId: string,
  ) {
    super(
      'rebuild_running',
      `A rebuild of ${projection} for tenant ${tenantId} is already running (${runningId}).`,
    );
  }
}

export class ProjectionNotFound extends DomainError {
  constructor(name: string) {
    super('projection_not_found', `No projection named ${name}; projections: reports, scheduled-work.`);
  }
}

/** A projection whose rows drive effects in flight (leases, provider jobs) cannot be rebuilt online. */
export class ProjectionNotRebuildable extends DomainError {
  constructor(name: string, reason: string) {
    super('projection_not_rebuildable', `${name} cannot be rebuilt online: ${reason}`);
  }
}

export class RebuildNotFound extends DomainError {
  constructor(id: string) {
    super('rebuild_not_found', `No rebuild ${id}.`);
  }
}
