/**
 * A message broker's topic, as the relays see it (issue 9): ordered, acknowledged publishing of keyed
 * messages with string headers. No client library's types cross it, so the adapter (kafkajs today,
 * ADR 0016) can be swapped for another without touching the relay.
 */
export const MESSAGE_BUS = Symbol('MessageBus');

export type OutgoingMessage = Readonly<{
  /** Messages with one key keep their order (Kafka: the same partition). */
  key: string;
  /** The body, already serialised (UTF-8). */
  value: string;
  /** Every value defined: a broker client may reject a header without one. */
  headers: Readonly<Record<string, string>>;
}>;

export type MessageBusHealth = Readonly<{ state: 'up' | 'down'; error?: string }>;

export interface MessageBus {
  /**
   * Connects and makes sure the topic exists (created with the configured partitions when missing).
   * Idempotent; a failure leaves nothing half-open, and the next call (or `publish`) tries again.
   */
  connect(): Promise<void>;
  /**
   * Writes `messages` in order and resolves once the broker acknowledged every one of them (Kafka:
   * acks=all). Rejects with {@link MessageBusUnavailable} when it cannot: some of them may have been
   * written then, so a caller that publishes again delivers them at least once, never zero times.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Whether the broker answers now, within `timeoutMs`; never rejects. */
  health(timeoutMs: number): Promise<MessageBusHealth>;
  /** Closes the connections (idempotent). */
  close(): Promise<void>;
}

/** The broker did not acknowledge (down, unreachable, timed out): never the message's fault, so retry it. */
export class MessageBusUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MessageBusUnavailable';
  }
}
