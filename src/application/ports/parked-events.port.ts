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

export interface ParkedEvents {
  /** Records a parked event; parking the same event of the same subscription again updates it. */
  park(event: ParkedEvent): Promise<void>;
  /** Parked events per subscription (only subscriptions that have some). */
  countBySubscription(): Promise<Readonly<Record<string, number>>>;
  /** The parked events of a subscription, oldest first. */
  list(subscription: string, limit?: number): Promise<ParkedEvent[]>;
}
