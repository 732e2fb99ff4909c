import { stopS3ProxyForTests } from './s3proxy-server.mjs';

export default async function globalTeardown() {
  await stopS3ProxyForTests();
  await globalThis.__confluxTestCluster?.stop();
  const { stopTestKafka } = await import('./kafka-broker.ts');
  await stopTestKafka(globalThis.__confluxTestKafka);
}
