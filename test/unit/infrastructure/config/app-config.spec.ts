import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../../src/infrastructure/config/app-config.js';

const secrets = {
  OPERATOR_TOKEN: 'operator-token-of-32-characters!',
  JWT_SECRET: 'a-jwt-secret-that-is-at-least-32-characters-long',
  MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
};
const providers = {
  PROVIDER_BANK_URL: 'https://bank.example/v1',
  PROVIDER_CREDIT_URL: 'https://credit.example/v1',
  PROVIDER_TAX_URL: 'https://tax.example/v1',
};

describe('loadConfig', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'conflux-config-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error('expected a ConfigError');
  };

  it('stops in production without secrets, naming each missing variable, and generates nothing', () => {
    const env = { NODE_ENV: 'production', DATA_DIR: dataDir };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    const problems = problemsOf(env);
    expect(problems).toEqual([
      expect.stringMatching(/^OPERATOR_TOKEN: required in production/),
      expect.stringMatching(/^JWT_SECRET: required in production/),
      expect.stringMatching(/^MASTER_KEY: required in production/),
      expect.stringMatching(/^PROVIDER_BANK_URL: required in production/),
      expect.stringMatching(/^PROVIDER_CREDIT_URL: required in production/),
      expect.stringMatching(/^PROVIDER_TAX_URL: required in production/),
    ]);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('names only what is missing, together with any invalid variable', () => {
    const problems = problemsOf({
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      ...secrets,
      JWT_SECRET: '',
      PORT: 'x',
    });
    expect(problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('JWT_SECRET:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('OPERATOR_TOKEN:'))).toBe(false);
  });

  it('starts in production with the secrets given', () => {
    const config = loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...secrets, ...providers });
    expect(config.secrets.operatorToken).toBe(secrets.OPERATOR_TOKEN);
    expect(config.secrets.masterKey).toHaveLength(32);
    expect(config.operatorTokenGenerated).toBe(false);
    expect(config.shutdownDelayMs).toBe(5000);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('generates secrets into DATA_DIR in development, readable by the owner only, and reuses them', () => {
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
    expect(first.operatorTokenGenerated).toBe(true);
    expect(readdirSync(dataDir).sort()).toEqual(['jwt-secret', 'master-key', 'operator-token']);
    expect(statSync(join(dataDir, 'master-key')).mode & 0o077).toBe(0);
    expect(readFileSync(join(dataDir, 'operator-token'), 'utf8').trim()).toBe(first.secrets.operatorToken);
    expect(first.secrets.masterKey).toHaveLength(32);
    expect(first.secrets.jwtSecret.length).toBeGreaterThanOrEqual(32);

    const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
    expect(second.secrets).toEqual(first.secrets);
  });

  it('explains invalid values by variable', () => {
    const problems = problemsOf({
      DATA_DIR: dataDir,
      MASTER_KEY: 'too-short',
      DATABASE_URL: 'mysql://x',
      EVENT_STORE: 'eventstoredb',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^MASTER_KEY: must be 32 bytes in base64/),
        expect.stringMatching(/^DATABASE_URL:/),
      ]),
    );
    expect(problemsOf({ DATA_DIR: dataDir, EVENT_STORE: 'eventstoredb' })).toEqual([
      'EVENTSTORE_URL: required when EVENT_STORE=eventstoredb',
    ]);
    expect(
      problemsOf({ DATA_DIR: dataDir, EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: 'http://es:2113' }),
    ).toEqual([expect.stringMatching(/^EVENTSTORE_URL: must be a KurrentDB connection string/)]);
  });

  it('takes EVENT_STORE=eventstoredb with a kurrentdb:// or esdb:// EVENTSTORE_URL', () => {
    for (const url of ['kurrentdb://localhost:2113?tls=false', 'esdb+discover://a:b@cluster:2113']) {
      const config = loadConfig({ DATA_DIR: dataDir, EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: url });
      expect(config).toMatchObject({ eventStore: 'eventstoredb', eventStoreUrl: url });
    }
  });

  it('reads the documented defaults', () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    expect(config).toMatchObject({
      port: 3000,
      eventStore: 'postgres',
      storage: 'local',
      downloadUrlTtlSeconds: 900,
      databaseUrl: undefined,
      shutdownDelayMs: 0,
      tenantConnections: { budget: 40, waitMs: 5000 },
    });
  });

  it('reads the Kafka settings: api.md defaults, a topic name Kafka accepts, at least one partition', () => {
    expect(loadConfig({ DATA_DIR: dataDir })).toMatchObject({
      kafkaBrokers: [],
      kafka: { topic: 'conflux.reports', clientId: 'conflux', topicPartitions: 3 },
    });
    const config = loadConfig({
      DATA_DIR: dataDir,
      KAFKA_BROKERS: 'k1:9092, k2:9092',
      KAFKA_TOPIC: 'acme.reports',
      KAFKA_CLIENT_ID: 'conflux-eu',
      KAFKA_TOPIC_PARTITIONS: '12',
    });
    expect(config.kafkaBrokers).toEqual(['k1:9092', 'k2:9092']);
    expect(config.kafka).toEqual({ topic: 'acme.reports', clientId: 'conflux-eu', topicPartitions: 12 });
    expect(problemsOf({ DATA_DIR: dataDir, KAFKA_TOPIC: 'no spaces', KAFKA_TOPIC_PARTITIONS: '0' })).toEqual([
      expect.stringMatching(/^KAFKA_TOPIC: must be a Kafka topic name/),
      expect.stringMatching(/^KAFKA_TOPIC_PARTITIONS/),
    ]);
  });

  it('reads the provider client timeouts: 30 s idle, 15 min per result stream by default', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).providerClient).toEqual({
      idleBodyTimeoutMs: 30_000,
      resultTimeoutMs: 15 * 60_000,
    });
    const env = {
      DATA_DIR: dataDir,
      PROVIDER_IDLE_TIMEOUT_MS: '5000',
      PROVIDER_STREAM_DEADLINE_MS: '120000',
    };
    expect(loadConfig(env).providerClient).toEqual({ idleBodyTimeoutMs: 5000, resultTimeoutMs: 120_000 });
    expect(
      problemsOf({ DATA_DIR: dataDir, PROVIDER_IDLE_TIMEOUT_MS: 'soon', PROVIDER_STREAM_DEADLINE_MS: '10' }),
    ).toEqual([
      expect.stringMatching(/^PROVIDER_IDLE_TIMEOUT_MS/),
      expect.stringMatching(/^PROVIDER_STREAM_DEADLINE_MS/),
    ]);
  });

  it('does not take the provider tunables for misspelled provider URLs', () => {
    const { PROVIDER_TAX_URL: _tax, ...twoOfThree } = providers;
    const env = {
      DATA_DIR: dataDir,
      ...twoOfThree,
      PROVIDER_IDLE_TIMEOUT_MS: '5000',
      PROVIDER_DEADLINE_MS: '60000',
    };
    expect(problemsOf(env)).toEqual([expect.not.stringContaining('not recognised')]);
  });

  it('reads TRUST_PROXY as false when unset, a hop count, or a list of addresses/CIDRs, refusing anything else', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).trustProxy).toBe(false);
    expect(loadConfig({ DATA_DIR: dataDir, TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(
      loadConfig({ DATA_DIR: dataDir, TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1,loopback' }).trustProxy,
    ).toEqual(['10.0.0.0/8', '127.0.0.1', '::1', 'loopback']);
    for (const bad of ['true', '10.0.0.0/33', 'proxy.example.com', '1.2.3.4,'])
      expect(problemsOf({ DATA_DIR: dataDir, TRUST_PROXY: bad })).toEqual([
        expect.stringMatching(/^TRUST_PROXY: /),
      ]);
  });

  it('reads the tenant connection budget and its wait, and refuses a budget below one', () => {
    const config = loadConfig({
      DATA_DIR: dataDir,
      TENANT_CONNECTION_BUDGET: '12',
      TENANT_CONNECTION_WAIT_MS: '750',
    });
    expect(config.tenantConnections).toEqual({ budget: 12, waitMs: 750 });
    expect(problemsOf({ DATA_DIR: dataDir, TENANT_CONNECTION_BUDGET: '0' })).toEqual([
      expect.stringMatching(/^TENANT_CONNECTION_BUDGET: /),
    ]);
    expect(problemsOf({ DATA_DIR: dataDir, TENANT_CONNECTION_WAIT_MS: 'soon' })).toEqual([
      expect.stringMatching(/^TENANT_CONNECTION_WAIT_MS: /),
    ]);
  });

  it('reads FILE_RETENTION_DAYS as a decimal (30 by default) and refuses zero or words', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).process.fileRetentionMs).toBe(30 * 24 * 3600_000);
    expect(loadConfig({ DATA_DIR: dataDir, FILE_RETENTION_DAYS: '0.0002' }).process.fileRetentionMs).toBe(
      17_280,
    );
    for (const bad of ['0', '-1', 'a month'])
      expect(problemsOf({ DATA_DIR: dataDir, FILE_RETENTION_DAYS: bad })).toEqual([
        expect.stringMatching(/^FILE_RETENTION_DAYS: /),
      ]);
  });

  it('reads S3 storage: bucket required, path style by default with an endpoint, credentials as a pair', () => {
    expect(problemsOf({ DATA_DIR: dataDir, STORAGE: 's3' })).toEqual(['S3_BUCKET: required when STORAGE=s3']);
    const s3 = {
      DATA_DIR: dataDir,
      STORAGE: 's3',
      S3_BUCKET: 'reports',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'secret',
    };
    expect(loadConfig(s3).s3).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'reports',
      region: undefined,
      forcePathStyle: true,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
    });
    expect(loadConfig({ ...s3, S3_FORCE_PATH_STYLE: 'false' }).s3.forcePathStyle).toBe(false);
    expect(loadConfig({ DATA_DIR: dataDir, STORAGE: 's3', S3_BUCKET: 'b' }).s3).toMatchObject({
      forcePathStyle: false,
      credentials: undefined,
    });
  });

  describe('provider URLs: real providers or the bundled simulator, never a mix', () => {
    it('refuses production without all three, naming each missing one and a misspelled look-alike', () => {
      const { PROVIDER_TAX_URL: tax, ...twoOfThree } = providers;
      const env = {
        NODE_ENV: 'production',
        DATA_DIR: dataDir,
        ...secrets,
        ...twoOfThree,
        PROVIDER_TAXURL: tax,
      };
      expect(problemsOf(env)).toEqual([
        expect.stringMatching(
          /^PROVIDER_TAX_URL: required because PROVIDER_BANK_URL, PROVIDER_CREDIT_URL are set/,
        ),
      ]);
      expect(problemsOf(env)[0]).toContain('set but not recognised: PROVIDER_TAXURL');
      expect(problemsOf({ NODE_ENV: 'production', DATA_DIR: dataDir, ...secrets })).toEqual([
        expect.stringMatching(/^PROVIDER_BANK_URL: required in production/),
        expect.stringMatching(/^PROVIDER_CREDIT_URL: required in production/),
        expect.stringMatching(/^PROVIDER_TAX_URL: required in production/),
      ]);
    });

    it('treats an empty value as unset', () => {
      const env = {
        NODE_ENV: 'production',
        DATA_DIR: dataDir,
        ...secrets,
        ...providers,
        PROVIDER_CREDIT_URL: '',
      };
      expect(problemsOf(env)).toEqual([expect.stringMatching(/^PROVIDER_CREDIT_URL: required because/)]);
    });

    it.each(['development', 'test'])(
      'refuses a mix in %s too, and accepts none (the simulator) or all three',
      (NODE_ENV) => {
        expect(
          problemsOf({ NODE_ENV, DATA_DIR: dataDir, PROVIDER_BANK_URL: providers.PROVIDER_BANK_URL }),
        ).toEqual([
          expect.stringMatching(
            /^PROVIDER_CREDIT_URL: required because PROVIDER_BANK_URL is set \(real and simulated providers are never mixed\)/,
          ),
          expect.stringMatching(/^PROVIDER_TAX_URL: required because PROVIDER_BANK_URL is set/),
        ]);
        expect(loadConfig({ NODE_ENV, DATA_DIR: dataDir }).providers).toEqual({});
        expect(loadConfig({ NODE_ENV, DATA_DIR: dataDir, ...providers }).providers).toEqual({
          bank: providers.PROVIDER_BANK_URL,
          credit: providers.PROVIDER_CREDIT_URL,
          tax: providers.PROVIDER_TAX_URL,
        });
      },
    );
  });
});

describe('loadConfig: HOST and login throttling (issue 6, items 7 and 8)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'conflux-config-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('binds 127.0.0.1 in development, 0.0.0.0 in production, HOST when given', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).host).toBe('127.0.0.1');
    expect(loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...secrets, ...providers }).host).toBe(
      '0.0.0.0',
    );
    expect(
      loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...secrets, ...providers, HOST: '10.0.0.5' })
        .host,
    ).toBe('10.0.0.5');
  });

  it('throttles logins after 10 failures for 900 s by default; the address limit follows unless set', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).login).toEqual({
      maxFailures: 10,
      maxFailuresPerAddress: 10,
      lockoutSeconds: 900,
    });
    expect(
      loadConfig({
        DATA_DIR: dataDir,
        LOGIN_MAX_FAILURES: '5',
        LOGIN_LOCKOUT_SECONDS: '60',
        LOGIN_MAX_FAILURES_PER_ADDRESS: '50',
      }).login,
    ).toEqual({ maxFailures: 5, maxFailuresPerAddress: 50, lockoutSeconds: 60 });
    expect(() => loadConfig({ DATA_DIR: dataDir, LOGIN_MAX_FAILURES: '0' })).toThrow(/LOGIN_MAX_FAILURES/);
  });
});
