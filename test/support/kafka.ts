import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { type KafkaBroker, startKafkaBroker } from './kafka-broker.js';
import { waitUntil } from './wait-until.js';

/** Why the Kafka tests cannot run here (no Java or Maven), from the global setup; undefined when they can. */
export const kafkaSkipReason = process.env.CONFLUX_TEST_KAFKA_SKIP;

/** `describe`, or a skipped one whose name (and a warning) says why when no broker can run here. */
export const describeWithKafka = (name: string, body: () => void): void => {
  if (!kafkaSkipReason) return describe(name, body);
  console.warn(`[test] skipped "${name}": ${kafkaSkipReason}`);
  describe.skip(`${name} (skipped: ${kafkaSkipReason})`, body);
};

/** The test run's shared broker, once it serves (the global setup starts it in the background). */
export const sharedKafka = async (): Promise<string> => {
  const brokers = process.env.CONFLUX_TEST_KAFKA_BROKERS;
  const dir = process.env.CONFLUX_TEST_KAFKA_DIR;
  if (!brokers || !dir) throw new Error('no test Kafka broker: is the Jest global setup in use?');
  const state = join(dir, 'state');
  await waitUntil('the test Kafka broker has started', () => existsSync(state), 180_000, 100);
  const text = readFileSync(state, 'utf8');
  if (!text.startsWith('ready')) throw new Error(`the test Kafka broker did not start: ${text}`);
  return brokers;
};

/** A broker of the calling test file alone (stop/start tests); `close` kills it and removes its data. */
export const ownKafka = async (): Promise<KafkaBroker & { close(): Promise<void> }> => {
  const broker = await startKafkaBroker(await mkdtemp(join(tmpdir(), 'conflux-test-kafka-own-')));
  return {
    ...broker,
    close: async () => {
      await broker.kill();
      await rm(broker.dir, { recursive: true, force: true });
    },
  };
};

export type ReceivedMessage = Readonly<{
  partition: number;
  offset: string;
  key: string | undefined;
  value: any;
  headers: Record<string, string>;
}>;

/**
 * Everything on `topic` from its beginning, as a consumer downstream sees it, collected until `stop`:
 * counted at the broker, not in Conflux.
 */
export const collectTopic = async (
  brokers: string,
  topic: string,
): Promise<{ messages: ReceivedMessage[]; stop: () => Promise<void> }> => {
  const kafka = new Kafka({ clientId: 'conflux-test', brokers: [brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  // The relay creates the topic too; the consumer must not race it into a one-partition default.
  await waitUntil('the topic exists', async () => (await admin.listTopics()).includes(topic), 120_000, 200);
  await admin.disconnect();
  const consumer: Consumer = kafka.consumer({ groupId: `test-${Math.random().toString(36).slice(2)}` });
  const messages: ReceivedMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      messages.push({
        partition,
        offset: message.offset,
        key: message.key?.toString(),
        value: message.value ? JSON.parse(message.value.toString()) : undefined,
        headers: Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
        ),
      });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
};
