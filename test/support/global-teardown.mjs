export default async function globalTeardown() {
  await globalThis.__confluxTestCluster?.stop();
  const { stopTestKafka } = await import('./kafka-broker.ts');
  await stopTestKafka(globalThis.__confluxTestKafka);
}
