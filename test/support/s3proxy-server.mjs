import { installS3Proxy, s3ProxyUnavailableReason, startS3Proxy } from '../../scripts/s3proxy/s3proxy.mjs';

/**
 * Starts S3Proxy for the test run and exports its endpoint and credentials as S3_TEST_* (test files read
 * them through test/support/s3-test-server.ts; S3 suites skip, with the reason, when they are absent).
 * S3_TEST_ENDPOINT already set (e.g. a MinIO of one's own) is used as is. Never fails the run: without
 * Java or Maven it says why and leaves S3_TEST_SKIP_REASON for the suites to print.
 */
export async function startS3ProxyForTests() {
  if (process.env.S3_TEST_ENDPOINT) return;
  const reason = s3ProxyUnavailableReason();
  if (reason) {
    process.env.S3_TEST_SKIP_REASON = reason;
    console.warn(`\n[test] S3 suites skip: ${reason}`);
    return;
  }
  try {
    const fetchMs = await installS3Proxy();
    const server = await startS3Proxy();
    globalThis.__confluxS3Proxy = server;
    Object.assign(process.env, {
      S3_TEST_ENDPOINT: server.endpoint,
      S3_TEST_REGION: server.region,
      S3_TEST_ACCESS_KEY_ID: server.accessKeyId,
      S3_TEST_SECRET_ACCESS_KEY: server.secretAccessKey,
    });
    const fetched = fetchMs > 0 ? `fetched its jars in ${fetchMs} ms, ` : '';
    console.log(`[test] S3Proxy: ${fetched}started in ${server.startMs} ms on ${server.endpoint}`);
  } catch (error) {
    process.env.S3_TEST_SKIP_REASON = `S3Proxy did not start: ${error.message.split('\n')[0]}`;
    console.warn(`\n[test] S3 suites skip: ${error.message}`);
  }
}

export async function stopS3ProxyForTests() {
  await globalThis.__confluxS3Proxy?.stop();
}
