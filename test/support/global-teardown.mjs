export default async function globalTeardown() {
  await globalThis.__confluxTestCluster?.stop();
}
