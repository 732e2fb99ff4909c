import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { type ConfluxApp, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/infrastructure/config/app-config.js';
import { clusterUrl, createTestDatabase } from './database.js';
import { OpenApiContract } from './openapi-contract.js';

export type TestResponse = Readonly<{
  status: number;
  contentType: string | null;
  headers: Headers;
  text: string;
  body: any;
}>;

export type RequestOptions = Readonly<{
  body?: unknown;
  /** Sent as is (e.g. malformed JSON), with `content-type: application/json`. */
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}>;

export type TestApp = Readonly<{
  conflux: ConfluxApp;
  baseUrl: string;
  operatorToken: string;
  /** The control database of this app (a fresh one per app). */
  controlUrl: string;
  /** Every JSON log line the app wrote (at debug level). */
  logs: string[];
  /** Every response body this app sent through `request`. */
  responses: string[];
  /**
   * Sends a request and checks the response against the OpenAPI document this app serves: a response the
   * document does not promise fails the test (the error names every violation).
   */
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
  /** The document this app serves at /docs/openapi.json, as a checker. */
  contract(): Promise<OpenApiContract>;
  query<T extends pg.QueryResultRow>(url: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** Closes the app, drops the tenant databases it created, its control database and DATA_DIR. */
  close(): Promise<void>;
}>;

/** `/docs`, `/docs/openapi.json`, `/docs/openapi.yaml` and the UI's assets. */
const DOCUMENT_PATHS = /^\/docs(\/|\?|-json|-yaml|$)/;

export const query = async <T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
};

/**
 * The real application on port 0, against a fresh control database on the test cluster and a temporary
 * DATA_DIR (generated secrets land there, as in development).
 */
export const startTestApp = async (env: Record<string, string> = {}): Promise<TestApp> => {
  const control = await createTestDatabase('conflux_e2e');
  const dataDir = await mkdtemp(join(tmpdir(), 'conflux-e2e-'));
  const logs: string[] = [];
  const responses: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // Secrets are generated into DATA_DIR, as in development, unless the caller passes them.
  const { OPERATOR_TOKEN: _o, JWT_SECRET: _j, MASTER_KEY: _m, ...inherited } = process.env;
  const config = loadConfig({
    ...inherited,
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    DATA_DIR: dataDir,
    PORT: '0',
    // The bundled simulator on a free port too: a fixed SIM_PORT may be taken on a shared machine.
    SIM_PORT: '0',
    DATABASE_URL: control.url,
    ...env,
  });
  const conflux = await createApp(config, { logDestination: sink });
  await conflux.app.listen(0, '127.0.0.1');
  const baseUrl = (await conflux.app.getUrl()).replace('[::1]', '127.0.0.1');

  let contract: Promise<OpenApiContract> | undefined;
  const loadContract = (): Promise<OpenApiContract> => (contract ??= OpenApiContract.load(baseUrl));

  const request = async (
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<TestResponse> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined = options.rawBody;
    if (payload === undefined && options.body !== undefined) payload = JSON.stringify(options.body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    // Redirects are answers to check (the file route's 302), not something to follow silently.
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body: payload, redirect: 'manual' });
    const text = await response.text();
    responses.push(text);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const answer = {
      status: response.status,
      contentType: response.headers.get('content-type'),
      headers: response.headers,
      text,
      body,
    };
    // The UI and the document itself are not operations of the API they describe.
    if (!DOCUMENT_PATHS.test(path)) {
      const checker = await loadContract();
      const violations = checker.check(method, path, answer);
      if (violations.length > 0)
        throw new Error(`Response breaks the OpenAPI document:\n  ${violations.join('\n  ')}`);
    }
    return answer;
  };

  return {
    conflux,
    baseUrl,
    operatorToken: config.secrets.operatorToken,
    controlUrl: control.url,
    logs,
    responses,
    request,
    contract: loadContract,
    query,
    close: async () => {
      await conflux.close();
      const managed = await query<{ id: string }>(
        control.url,
        'SELECT id FROM tenants WHERE managed_database',
      ).catch(() => []);
      for (const { id } of managed)
        await query(clusterUrl(), `DROP DATABASE IF EXISTS "conflux_tenant_${id}" WITH (FORCE)`);
      await control.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};
