import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3ProxyForTests } from './s3proxy-server.mjs';

/**
 * Tests use DATABASE_URL when it is set (CI sets the machine's cluster); otherwise they start an
 * embedded PostgreSQL once for the whole run. Every test file then creates its own databases on it.
 * Plain ESM (Jest loads global setup outside its transform); Node 24 strips the types of the helper.
 */
export default async function globalSetup() {
  // The broker starts in the background (its suites wait for it) while S3Proxy starts.
  const { startTestKafkaInBackground } = await import('./kafka-broker.ts');
  globalThis.__confluxTestKafka = await startTestKafkaInBackground();
  await startS3ProxyForTests();
  if (process.env.DATABASE_URL) return;
  const { startEmbeddedPostgres } = await import('../../src/infrastructure/postgres/embedded-postgres.ts');
  const dir = await mkdtemp(join(tmpdir(), 'conflux-test-pg-'));
  const cluster = await startEmbeddedPostgres(dir, { persistent: false });
  process.env.DATABASE_URL = cluster.url;
  globalThis.__confluxTestCluster = cluster;
  console.log(`\n[test] DATABASE_URL unset: started an embedded PostgreSQL on ${new URL(cluster.url).host}`);
}
