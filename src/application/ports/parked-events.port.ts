import { DomainError } from '../../domain/shared/decider.js';
import type { Checkpoint } from './event-store.port.js';

/**
 * Events a subscription gave up on (a poison event: unknown type, malformed field, a handler that always
 * throws on it), kept with their error so that an operator can see, retry or skip them (ADR 0014). The
 * subscription moved past each one; its checkpoint does not come back for it by itself.
 */
export const PARKED_EVENTS = Symbol('ParkedEvents');

export type ParkedEvent = Readonly<{
  subscription: string;
  /** The event's tenant (from its metadata), if any. */
  tenantId: string | null;
  eventId: string;
  streamName: string;
  revision: number;
  checkpoint: Checkpoint;
  type: string;
  /** The last error's message (never a stack). */
  error: string;
  attempts: number;
  parkedAt: Date;
}>;

/** What an operator did about a parked event (issue 11): recorded, with who and when. */
export type ParkedEventAction = Readonly<{
  subscription: string;
  eventId: string;
  action: 'retried' | 'skipped';
  actor: string;
  at: Date;
  /** The event as it was parked. */
  event: ParkedEvent;
}>;

export interface ParkedEvents {
  /** Records a parked event; parking the same event of the same subscription again updates it. */
  park(event: ParkedEvent): Promise<void>;
  /** Parked events per subscription (only subscriptions that have some). */
  countBySubscription(): Promise<Readonly<Record<string, number>>>;
  /** The parked events of a subscription, oldest first. */
  list(subscription: string, limit?: number): Promise<ParkedEvent[]>;
  get(subscription: string, eventId: string): Promise<ParkedEvent | null>;
  /**
   * Takes the event out of the parked list and records what the operator did, atomically; false when it
   * was not parked (any more: another operator acted first).
   */
  resolve(
    subscription: string,
    eventId: string,
    action: ParkedEventAction['action'],
    actor: string,
  ): Promise<boolean>;
  /** Operators' actions on parked events, newest first. */
  actions(limit?: number): Promise<ParkedEventAction[]>;
}

export class ParkedEventNotFound extends DomainError {
  constructor(subscription: string, eventId: string) {
    super('parked_event_not_found', `No parked event ${eventId} in subscription ${subscription}.`);
  }
}

/** A retry found the event still unreadable: it stays parked. */
export class ParkedEventStillFailing extends DomainError {
  constructor(eventId: string, reason: string) {
    super('parked_event_still_failing', `Event ${eventId} still cannot be applied: ${reason}`);
  }
}

export class ParkedEventNotRetryable extends DomainError {
  constructor(subscription: string, reason: string) {
    super('parked_event_not_retryable', `Events parked by ${subscription} cannot be retried: ${reason}`);
  }
}
