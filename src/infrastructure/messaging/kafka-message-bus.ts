import {
  Kafka,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Admin,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import type { Logger } from '../../application/ports/logger.port.js';
import {
  MessageBusUnavailable,
  type MessageBus,
  type MessageBusHealth,
  type OutgoingMessage,
} from '../../application/ports/message-bus.port.js';

export type KafkaMessageBusOptions = Readonly<{
  brokers: readonly string[];
  clientId: string;
  topic: string;
  /** Partitions of the topic when it is created here; an existing topic is left as it is. */
  topicPartitions: number;
}>;

/**
 * kafkajs logs every failed request at ERROR, retried or not; the relay logs its own failure and recovery
 * once each (ADR 0014), so kafkajs' errors are warnings here and its info is debug.
 */
const LEVELS: Record<number, 'warn' | 'debug' | 'trace'> = {
  [KafkaLogLevel.ERROR]: 'warn',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'debug',
  [KafkaLogLevel.DEBUG]: 'trace',
};

/**
 * Said once per producer because retries are bounded (below). The relay does not rely on exactly-once: a
 * page that failed is published again and consumers dedupe on `ce_id` (ADR 0016).
 */
const BOUNDED_RETRIES_WARNING = 'Limiting retries for the idempotent producer';

/** kafkajs' log lines through the project's pino logger (its `logCreator`). */
const pinoLogCreator =
  (logger: Logger) =>
  () =>
  ({ namespace, level, log }: LogEntry): void => {
    const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
    const pinoLevel = message.startsWith(BOUNDED_RETRIES_WARNING) ? 'debug' : (LEVELS[level] ?? 'debug');
    logger[pinoLevel]({ kafkajs: namespace, ...fields }, message);
  };

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The message bus on Apache Kafka with kafkajs 2.2.4 (ADR 0016): an idempotent producer (acks=all, one
 * request in flight, so a retried batch is neither duplicated nor reordered by the broker) writing to one
 * topic, created at connect when missing.
 *
 * Retries are bounded (a send gives up within seconds) instead of the idempotent default of forever: a
 * send that never ends would hold the relay through a shutdown or a lost leadership. After a failed send
 * the producer is dropped and the next publish starts a new one (a new producer id, fresh sequence numbers).
 */
export class KafkaMessageBus implements MessageBus {
  private readonly kafka: Kafka;
  /** A client of its own for health: no retries, short timeouts, so readiness never waits on kafkajs. */
  private readonly probe: Kafka;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private probeAdmin: Admin | undefined;
  private checking: Promise<MessageBusHealth> | undefined;
  private closed = false;

  constructor(
    private readonly options: KafkaMessageBusOptions,
    private readonly logger: Logger,
  ) {
    const logLevel = logger.isLevelEnabled('debug') ? KafkaLogLevel.INFO : KafkaLogLevel.WARN;
    const base = {
      clientId: options.clientId,
      brokers: [...options.brokers],
      logLevel,
      logCreator: pinoLogCreator(logger),
    };
    // Few retries inside kafkajs: the relay retries with its own backoff, and a close never waits long.
    this.kafka = new Kafka({
      ...base,
      connectionTimeout: 3000,
      requestTimeout: 10_000,
      retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 2000 },
    });
    this.probe = new Kafka({ ...base, connectionTimeout: 1000, requestTimeout: 2000, retry: { retries: 0 } });
  }

  connect(): Promise<void> {
    return this.producerReady().then(() => undefined);
  }

  private producerReady(): Promise<Producer> {
    this.connecting ??= this.open().catch((error: unknown) => {
      this.connecting = undefined;
      throw new MessageBusUnavailable(`Kafka: ${describe(error)}`, { cause: error });
    });
    return this.connecting;
  }

  private async open(): Promise<Producer> {
    if (this.closed) throw new Error('closed');
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const created = await admin.createTopics({
        topics: [{ topic: this.options.topic, numPartitions: this.options.topicPartitions }],
        waitForLeaders: true,
      });
      if (created)
        this.logger.info(
          { topic: this.options.topic, partitions: this.options.topicPartitions },
          'Kafka topic created',
        );
    } finally {
      await admin.disconnect();
    }
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5000 },
    });
    try {
      await producer.connect();
      if (this.closed) throw new Error('closed');
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    this.producer = producer;
    return producer;
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const producer = await this.producerReady();
    try {
      await producer.send({
        topic: this.options.topic,
        acks: -1,
        messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers } })),
      });
    } catch (error) {
      await this.dropProducer();
      throw new MessageBusUnavailable(`Kafka did not acknowledge: ${describe(error)}`, { cause: error });
    }
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  health(timeoutMs: number): Promise<MessageBusHealth> {
    this.checking ??= this.ping(timeoutMs).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async ping(timeoutMs: number): Promise<MessageBusHealth> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const admin = (this.probeAdmin ??= this.probe.admin());
      await Promise.race([admin.connect().then(() => admin.describeCluster()), timeout]);
      return { state: 'up' };
    } catch (error) {
      const admin = this.probeAdmin;
      this.probeAdmin = undefined;
      await admin?.disconnect().catch(() => undefined);
      return { state: 'down', error: describe(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    await this.dropProducer();
    const admin = this.probeAdmin;
    this.probeAdmin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }
}
