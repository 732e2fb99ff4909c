// A local Kafka broker for running Conflux with KAFKA_BROKERS, without Docker (Java 17+ and Maven needed):
//   node scripts/kafka/start.mjs            # 127.0.0.1:9092 (KAFKA_PORT to change), Ctrl-C stops it
// The jars are fetched once into .cache/kafka/libs; the broker's data lives in .cache/kafka/local and is
// started afresh every time. Node 24 runs the TypeScript helper directly (its types are erasable).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  KAFKA_CACHE_DIR,
  kafkaUnavailableReason,
  startKafkaBroker,
} from '../../test/support/kafka-broker.ts';

const reason = kafkaUnavailableReason();
if (reason) {
  console.error(`Cannot start Kafka here: ${reason}`);
  process.exit(1);
}
const dir = join(KAFKA_CACHE_DIR, 'local');
await rm(dir, { recursive: true, force: true });
const broker = await startKafkaBroker(dir, { port: Number(process.env.KAFKA_PORT ?? 9092) });
console.log(`Kafka 4.4 is up (KRaft, single node; log: ${join(dir, 'broker.log')}). Run Conflux with:`);
console.log(`  KAFKA_BROKERS=${broker.brokers} npm start`);
const stop = async () => {
  await broker.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
