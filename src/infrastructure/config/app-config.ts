import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  type ProcessOptions,
  defaultProcessOptions,
} from '../../application/report/process/process-options.js';
import {
  DEFAULT_IDLE_BODY_TIMEOUT_MS,
  DEFAULT_RESULT_TIMEOUT_MS,
  type ProviderClientOptions,
} from '../providers/provider-options.js';

/**
 * The one configuration of Conflux, read from the environment once at start-up and validated.
 * Every variable of api.md is here. In production missing secrets stop start-up; in development they are
 * generated into DATA_DIR (and kept there, so tokens survive a restart).
 */
export const APP_CONFIG = Symbol('AppConfig');

const url = z.url({ protocol: /^(postgres|postgresql|https?)$/ });
const optionalUrl = z.preprocess((v) => (v === '' ? undefined : v), url.optional());
const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000).pipe(z.number().max(65535)),
  DATA_DIR: z.string().min(1).default('./.data'),
  DATABASE_URL: optionalUrl,
  TENANT_DATABASE_URL_TEMPLATE: z
    .string()
    .refine((v) => v.includes('{db}'), 'must contain the placeholder {db}')
    .optional(),
  OPERATOR_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  MASTER_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64 (44 characters)')
    .optional(),
  JWT_TTL_SECONDS: int(3600, 60),
  EVENT_STORE: z.enum(['postgres', 'eventstoredb']).default('postgres'),
  EVENTSTORE_URL: z
    .string()
    .regex(
      /^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\/\S+$/,
      'must be a KurrentDB connection string (kurrentdb://host:2113?tls=false, esdb://…)',
    )
    .optional(),
  STORAGE: z.enum(['local', 's3']).default('local'),
  S3_ENDPOINT: optionalUrl,
  S3_BUCKET: z.string().optional(),
  S3_REGION: z.string().optional(),
  S3_FORCE_PATH_STYLE: z.stringbool().optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  KAFKA_BROKERS: z.string().optional(),
  KAFKA_TOPIC: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name')
    .default('conflux.reports'),
  KAFKA_CLIENT_ID: z.string().min(1).default('conflux'),
  /** Partitions of KAFKA_TOPIC when the relay creates it (an existing topic is left as it is). */
  KAFKA_TOPIC_PARTITIONS: int(3, 1),
  PROVIDER_BANK_URL: optionalUrl,
  PROVIDER_CREDIT_URL: optionalUrl,
  PROVIDER_TAX_URL: optionalUrl,
  DOWNLOAD_URL_TTL_SECONDS: int(900, 1),
  FILE_RETENTION_DAYS: z.coerce.number().positive().max(36_500).default(30),
  PUBLIC_URL: optionalUrl,
  SIM_PORT: int(4010).pipe(z.number().max(65535)),
  SIM_TRANSACTIONS: int(2000),
  SIM_LATENCY_MS: int(3000),
  SIM_SEED: int(1),
  TENANT_ORM_IDLE_MS: int(10 * 60_000, 1000),
  TENANT_CONNECTION_BUDGET: int(40, 1),
  TENANT_CONNECTION_WAIT_MS: int(5000, 1),
  /** Time between readiness turning 503 and the server closing, so load balancers stop routing first. */
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).optional(),
  PROVIDER_DEADLINE_MS: int(15 * 60_000, 1000),
  /** A provider result stream that sends no byte for this long is cut. */
  PROVIDER_IDLE_TIMEOUT_MS: int(DEFAULT_IDLE_BODY_TIMEOUT_MS, 100),
  /** Total deadline of a provider result stream, headers and body. */
  PROVIDER_STREAM_DEADLINE_MS: int(DEFAULT_RESULT_TIMEOUT_MS, 1000),
  POLL_BACKOFF_BASE_MS: int(250, 10),
  POLL_BACKOFF_CAP_MS: int(30_000, 100),
  WORK_LEASE_MS: int(10_000, 500),
  WORKER_CONCURRENCY: int(16, 1),
  SUBSCRIPTION_MAX_ATTEMPTS: int(5, 1),
  SUBSCRIPTION_RETRY_CAP_MS: int(30_000, 100),
  TENANT_STATUS_CACHE_MS: int(5000),
  HOST: z.string().min(1).optional(),
  LOGIN_MAX_FAILURES: int(10, 1),
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).optional(),
  LOGIN_LOCKOUT_SECONDS: int(900, 1),
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((raw, ctx): TrustProxy => {
      const text = raw?.trim() ?? '';
      if (text === '') return false;
      if (/^\d+$/.test(text)) return Number(text);
      const entries = text.split(',').map((entry) => entry.trim());
      for (const entry of entries) {
        if (!isProxyAddress(entry))
          ctx.addIssue({ code: 'custom', message: `not a hop count, address or CIDR: ${entry}` });
      }
      return entries;
    }),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default('5s,5m,30m,2h,5h,10h,10h')
    .transform((raw, ctx) => {
      const delays = parseDurations(raw);
      if (!delays)
        ctx.addIssue({ code: 'custom', message: 'must be durations like 5s,5m,30m,2h (ms, s, m, h)' });
      return delays ?? [];
    }),
  /** Webhook deliveries in flight per process; one tenant holds at most half of them. */
  WEBHOOK_CONCURRENCY: int(16, 2),
  /** Bearer token of GET /metrics; unset: open in development and test, 404 in production (api.md). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** `true` adds a `tenant` label to per-report series: cardinality grows with the number of tenants. */
  METRICS_PER_TENANT: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Scrape-time reads (scheduled work, lag, parked events) are reused this long. */
  METRICS_SCRAPE_CACHE_MS: int(5000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * Express's `trust proxy` setting: false (the socket's address is the client's), a number of proxy hops
 * to trust in X-Forwarded-For, or the addresses/CIDRs (or proxy-addr's `loopback`, `linklocal`,
 * `uniquelocal`) of trusted proxies.
 */
export type TrustProxy = false | number | readonly string[];

const isProxyAddress = (entry: string): boolean => {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
};

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * `5s,5m,30m,2h` → `[5000, 300000, 1800000, 7200000]` (milliseconds); units ms, s, m, h, decimals allowed.
 * Null when any entry is not such a duration; an empty string is an empty schedule (no retries).
 */
export const parseDurations = (raw: string): number[] | null => {
  const delays: number[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(entry);
    if (!match) return null;
    delays.push(Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS]));
  }
  return delays;
};

export type Secrets = Readonly<{ operatorToken: string; jwtSecret: string; masterKey: Buffer }>;

export type AppConfig = Readonly<{
  env: 'development' | 'production' | 'test';
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  tenantDatabaseUrlTemplate: string | undefined;
  secrets: Secrets;
  /** True when the operator token was generated into DATA_DIR (printed at start-up). */
  operatorTokenGenerated: boolean;
  jwtTtlSeconds: number;
  eventStore: 'postgres' | 'eventstoredb';
  eventStoreUrl: string | undefined;
  storage: 'local' | 's3';
  /**
   * With STORAGE=s3. `forcePathStyle` defaults to true when an endpoint is set (MinIO, S3Proxy); without
   * `credentials` (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) the SDK's default chain finds them.
   */
  s3: Readonly<{
    endpoint?: string;
    bucket?: string;
    region?: string;
    forcePathStyle: boolean;
    credentials?: Readonly<{ accessKeyId: string; secretAccessKey: string }>;
  }>;
  kafkaBrokers: string[];
  /** The report notifications topic (KAFKA_TOPIC), its partitions when created, and the client id. */
  kafka: Readonly<{ topic: string; clientId: string; topicPartitions: number }>;
  providers: Readonly<{ bank?: string; credit?: string; tax?: string }>;
  downloadUrlTtlSeconds: number;
  publicUrl: string | undefined;
  simulator: Readonly<{ port: number; transactions: number; latencyMs: number; seed: number }>;
  tenantOrmIdleMs: number;
  /**
   * Physical connections all tenant databases of one process may hold at once, and how long (ms) a request
   * waits for one before answering 503. Default 40 / 5000: sized for PostgreSQL's default
   * `max_connections=100`, beside the control (10) and event-store pools (ADR 0009; bench/RESULTS.md).
   */
  tenantConnections: Readonly<{ budget: number; waitMs: number }>;
  shutdownDelayMs: number;
  /** How long a tenant's `active` status is trusted by the token check: a disabled tenant's tokens stop working within it. */
  tenantStatusCacheMs: number;
  /** The report process manager's tunables. */
  process: ProcessOptions;
  /** Timeouts of the provider HTTP client's result streams (PROVIDER_IDLE_TIMEOUT_MS, PROVIDER_STREAM_DEADLINE_MS). */
  providerClient: Required<Pick<ProviderClientOptions, 'idleBodyTimeoutMs' | 'resultTimeoutMs'>>;
  /** Checkpointed subscriptions: failures of one event before it is parked; backoff cap (ADR 0014). */
  subscriptions: Readonly<{ maxAttempts: number; retryCapMs: number }>;
  logLevel: string;
  /** Address the HTTP server binds (HOST): 127.0.0.1 in development and tests, 0.0.0.0 in production. */
  host: string;
  /** Login throttling (issue 6, item 7): failures per tenant+username and per client address, lockout. */
  login: Readonly<{ maxFailures: number; maxFailuresPerAddress: number; lockoutSeconds: number }>;
  /** TRUST_PROXY: whose X-Forwarded-For gives `req.ip`, the address login throttling counts. */
  trustProxy: TrustProxy;
  /**
   * Webhook deliveries: whether receivers may be on private/loopback addresses, the delays (ms) between
   * attempts after the first, and the deliveries in flight per process.
   */
  webhooks: Readonly<{
    allowPrivateNetworks: boolean;
    retryScheduleMs: readonly number[];
    concurrency: number;
  }>;
  /** GET /metrics (ADR 0022): its bearer token, per-tenant labels, how long scrape-time reads are reused (ms). */
  metrics: Readonly<{ token: string | undefined; perTenant: boolean; scrapeCacheMs: number }>;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads or creates a secret file in DATA_DIR (mode 0600). */
const generatedSecret = (dataDir: string, file: string, make: () => string): string => {
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return value;
};

/** The provider URL variables, in the order problems name them. */
const PROVIDER_URL_VARIABLES = ['PROVIDER_BANK_URL', 'PROVIDER_CREDIT_URL', 'PROVIDER_TAX_URL'] as const;

/**
 * Real providers or the bundled simulator, never a mix, and never the simulator in production: a report
 * must not combine real bank data with fabricated tax filings, and a misspelled variable must not quietly
 * turn a production provider into the simulator. Given the raw environment, returns one problem per
 * missing variable (empty when all three are set, or none is set outside production). Variables that look
 * like a misspelled provider URL (`PROVIDER_*` but not one of the three) are named in the message.
 * Rule: issue 6 item 15 (README "Running it for real").
 */
export const providerUrlProblems = (env: NodeJS.ProcessEnv): string[] => {
  const isSet = (name: string) => (env[name] ?? '') !== '';
  const missing = PROVIDER_URL_VARIABLES.filter((name) => !isSet(name));
  const set = PROVIDER_URL_VARIABLES.filter((name) => isSet(name));
  const production = env.NODE_ENV === 'production';
  if (missing.length === 0 || (set.length === 0 && !production)) return [];
  const known: readonly string[] = PROVIDER_URL_VARIABLES;
  // Other variables of the schema (PROVIDER_DEADLINE_MS…) are known too: only look-alikes are named.
  const unknown = Object.keys(env).filter(
    (name) => name.startsWith('PROVIDER_') && !known.includes(name) && !(name in envSchema.shape),
  );
  const hint = unknown.length > 0 ? `; set but not recognised: ${unknown.join(', ')}` : '';
  const reason =
    set.length > 0
      ? `required because ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set (real and simulated providers are never mixed)`
      : 'required in production (the bundled provider simulator never runs when NODE_ENV=production)';
  return missing.map((name) => `${name}: ${reason}${hint}`);
};

export const loadConfig = (env: NodeJS.ProcessEnv = process.env): AppConfig => {
  const parsed = envSchema.safeParse(env);
  // Missing production secrets are reported together with any other problem, so one start-up attempt
  // names everything the operator has to fix.
  const problems: string[] = [];
  if (env.NODE_ENV === 'production') {
    for (const name of ['OPERATOR_TOKEN', 'JWT_SECRET', 'MASTER_KEY'] as const) {
      if (!env[name])
        problems.push(`${name}: required in production (nothing is generated when NODE_ENV=production)`);
    }
  }
  problems.push(...providerUrlProblems(env));
  if (!parsed.success) {
    throw new ConfigError([
      ...parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      ...problems,
    ]);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  if (e.EVENT_STORE === 'eventstoredb' && !e.EVENTSTORE_URL)
    problems.push('EVENTSTORE_URL: required when EVENT_STORE=eventstoredb');
  if (e.STORAGE === 's3' && !e.S3_BUCKET) problems.push('S3_BUCKET: required when STORAGE=s3');
  if (problems.length > 0) throw new ConfigError(problems);

  const operatorToken =
    e.OPERATOR_TOKEN ??
    generatedSecret(dataDir, 'operator-token', () => randomBytes(24).toString('base64url'));
  const jwtSecret =
    e.JWT_SECRET ?? generatedSecret(dataDir, 'jwt-secret', () => randomBytes(48).toString('base64url'));
  const masterKey = Buffer.from(
    e.MASTER_KEY ?? generatedSecret(dataDir, 'master-key', () => randomBytes(32).toString('base64')),
    'base64',
  );

  return {
    env: e.NODE_ENV,
    port: e.PORT,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    tenantDatabaseUrlTemplate: e.TENANT_DATABASE_URL_TEMPLATE,
    secrets: { operatorToken, jwtSecret, masterKey },
    operatorTokenGenerated: !e.OPERATOR_TOKEN,
    jwtTtlSeconds: e.JWT_TTL_SECONDS,
    eventStore: e.EVENT_STORE,
    eventStoreUrl: e.EVENTSTORE_URL,
    storage: e.STORAGE,
    s3: {
      endpoint: e.S3_ENDPOINT,
      bucket: e.S3_BUCKET,
      region: e.S3_REGION,
      forcePathStyle: e.S3_FORCE_PATH_STYLE ?? e.S3_ENDPOINT !== undefined,
      credentials:
        e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY
          ? { accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY }
          : undefined,
    },
    kafkaBrokers: (e.KAFKA_BROKERS ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    kafka: { topic: e.KAFKA_TOPIC, clientId: e.KAFKA_CLIENT_ID, topicPartitions: e.KAFKA_TOPIC_PARTITIONS },
    providers: { bank: e.PROVIDER_BANK_URL, credit: e.PROVIDER_CREDIT_URL, tax: e.PROVIDER_TAX_URL },
    downloadUrlTtlSeconds: e.DOWNLOAD_URL_TTL_SECONDS,
    publicUrl: e.PUBLIC_URL,
    simulator: {
      port: e.SIM_PORT,
      transactions: e.SIM_TRANSACTIONS,
      latencyMs: e.SIM_LATENCY_MS,
      seed: e.SIM_SEED,
    },
    tenantOrmIdleMs: e.TENANT_ORM_IDLE_MS,
    tenantConnections: { budget: e.TENANT_CONNECTION_BUDGET, waitMs: e.TENANT_CONNECTION_WAIT_MS },
    shutdownDelayMs: e.SHUTDOWN_DELAY_MS ?? (e.NODE_ENV === 'production' ? 5000 : 0),
    tenantStatusCacheMs: e.TENANT_STATUS_CACHE_MS,
    process: {
      ...defaultProcessOptions,
      providerDeadlineMs: e.PROVIDER_DEADLINE_MS,
      backoffBaseMs: e.POLL_BACKOFF_BASE_MS,
      backoffCapMs: e.POLL_BACKOFF_CAP_MS,
      leaseMs: e.WORK_LEASE_MS,
      concurrency: e.WORKER_CONCURRENCY,
      fileRetentionMs: Math.round(e.FILE_RETENTION_DAYS * 24 * 60 * 60_000),
    },
    providerClient: {
      idleBodyTimeoutMs: e.PROVIDER_IDLE_TIMEOUT_MS,
      resultTimeoutMs: e.PROVIDER_STREAM_DEADLINE_MS,
    },
    subscriptions: { maxAttempts: e.SUBSCRIPTION_MAX_ATTEMPTS, retryCapMs: e.SUBSCRIPTION_RETRY_CAP_MS },
    logLevel: e.LOG_LEVEL,
    host: e.HOST ?? (e.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1'),
    trustProxy: e.TRUST_PROXY,
    webhooks: {
      allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
      retryScheduleMs: e.WEBHOOK_RETRY_SCHEDULE,
      concurrency: e.WEBHOOK_CONCURRENCY,
    },
    metrics: {
      token: e.METRICS_TOKEN,
      perTenant: e.METRICS_PER_TENANT,
      scrapeCacheMs: e.METRICS_SCRAPE_CACHE_MS,
    },
    login: {
      maxFailures: e.LOGIN_MAX_FAILURES,
      // api.md: one limit for both keys unless the operator sets the address's own (e.g. behind a NAT).
      maxFailuresPerAddress: e.LOGIN_MAX_FAILURES_PER_ADDRESS ?? e.LOGIN_MAX_FAILURES,
      lockoutSeconds: e.LOGIN_LOCKOUT_SECONDS,
    },
  };
};
