import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A real Apache Kafka 4.4 broker without Docker, for tests, CI and local runs (issue 9): the jars come from
 * Maven Central through scripts/kafka/pom.xml into `.cache/kafka/libs` (once, ~45 jars, 43 MB); each broker
 * is one JVM in KRaft mode, broker and controller combined, on free ports, with its data in its own folder.
 *
 * Plain Node (its types are erasable): the Jest global setup and `node scripts/kafka/start.mjs` import this
 * file directly, so it imports nothing of the project.
 */

/** The project's root: two levels up from test/support, three from its compiled copy (dist/test/support, the bench). */
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT =
  [resolve(HERE, '../..'), resolve(HERE, '../../..')].find((dir) =>
    existsSync(join(dir, 'scripts/kafka/pom.xml')),
  ) ?? resolve(HERE, '../..');
export const KAFKA_CACHE_DIR = join(ROOT, '.cache/kafka');
const LIBS = join(KAFKA_CACHE_DIR, 'libs');
const POM = join(ROOT, 'scripts/kafka/pom.xml');
/** Measured ~5 s to first produce and ~300 MB resident on a 2-core machine (issue 9). */
const JVM_OPTIONS = ['-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];
const STARTED = 'Kafka Server started';

export type KafkaBroker = {
  /** `host:port` for KAFKA_BROKERS. */
  readonly brokers: string;
  /** The broker's folder: its data, config and `broker.log`. */
  readonly dir: string;
  /** Starts it (again after `stop`/`kill`: same data and ports); resolves once it serves clients. */
  start(): Promise<void>;
  /** SIGTERM, then waits for the JVM to exit (a controlled shutdown). */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash; waits for the exit. */
  kill(): Promise<void>;
  /** The last lines the broker wrote (for failure messages). */
  logTail(): Promise<string>;
};

export type BrokerOptions = Readonly<{
  /** Client port; a free one by default. */
  port?: number;
  /** Default partitions of auto-created topics (1). */
  partitions?: number;
  /** Start-up deadline, ms (120 000, times TEST_WAIT_SCALE). */
  timeoutMs?: number;
}>;

/** Why no broker can run here (no `java` or no `mvn` on PATH, or `CONFLUX_TEST_KAFKA=off`), or undefined when one can. */
export const kafkaUnavailableReason = (): string | undefined => {
  if (process.env.CONFLUX_TEST_KAFKA === 'off') return 'CONFLUX_TEST_KAFKA=off';
  for (const [tool, args] of [
    ['java', ['-version']],
    ['mvn', ['-v']],
  ] as const) {
    const probe = spawnSync(tool, args, { stdio: 'ignore' });
    if (probe.error || probe.status !== 0)
      return `${tool} is not available (${probe.error?.message ?? `exit ${probe.status}`})`;
  }
  return undefined;
};

/** Fetches the broker's jars into `.cache/kafka/libs` unless already there; rejects with Maven's output. */
export const ensureKafkaJars = async (): Promise<string> => {
  if (existsSync(LIBS) && readdirSync(LIBS).some((jar) => jar.startsWith('kafka_2.13-'))) return LIBS;
  const output = await run('mvn', [
    '-q',
    '-B',
    '-f',
    POM,
    'dependency:copy-dependencies',
    `-DoutputDirectory=${LIBS}`,
  ]);
  if (!readdirSync(LIBS).some((jar) => jar.startsWith('kafka_2.13-')))
    throw new Error(`Maven fetched no Kafka jar:\n${output}`);
  return LIBS;
};

/** A free TCP port on 127.0.0.1 (the OS picks it). */
const freePort = (): Promise<number> =>
  new Promise((found, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? found(address.port) : fail(new Error('no port')),
      );
    });
  });

const run = (command: string, args: string[]): Promise<string> =>
  new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code) =>
      code === 0
        ? done(output)
        : fail(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`)),
    );
  });

/** Only WARN and above, plus the line that says the server is up (what `start` waits for). */
const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
`;

const serverProperties = (dir: string, port: number, controllerPort: number, partitions: number): string =>
  [
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `log.dirs=${join(dir, 'data')}`,
    `num.partitions=${partitions}`,
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');

/**
 * A single-node KRaft broker in `dir` (created if missing) on two free ports, not started yet: its address
 * is known at once, so a caller can hand it out and start the JVM in the background. The first `start`
 * fetches the jars if needed and formats the storage; it resolves once the broker serves clients and
 * rejects with the broker's log when it exits or has not started within `timeoutMs`.
 */
export const createKafkaBroker = async (dir: string, options: BrokerOptions = {}): Promise<KafkaBroker> => {
  await mkdir(dir, { recursive: true });
  const [port, controllerPort] = [options.port ?? (await freePort()), await freePort()];
  const config = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j2.properties');
  const logFile = join(dir, 'broker.log');
  const timeoutMs = (options.timeoutMs ?? 120_000) * Number(process.env.TEST_WAIT_SCALE ?? 1);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let libs: string | undefined;
  /** The start in progress, if any; a stop waits for it (a JVM it has spawned is killed at once). */
  let starting: Promise<void> | undefined;
  let stopping = false;

  const java = (mainClass: string, args: string[]) => [
    ...JVM_OPTIONS,
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    `${libs}/*`,
    mainClass,
    ...args,
  ];
  const logTail = async () => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-40).join('\n');
  };

  const format = async () => {
    libs = await ensureKafkaJars();
    await writeFile(config, serverProperties(dir, port, controllerPort, options.partitions ?? 1));
    await writeFile(log4j, LOG4J2);
    const clusterId = randomBytes(16).toString('base64url');
    await run(
      'java',
      java('kafka.tools.StorageTool', ['format', '--standalone', '-t', clusterId, '-c', config]),
    );
  };

  const launch = async (): Promise<void> => {
    if (!libs) await format();
    if (stopping) throw new Error('Kafka was stopped while starting');
    const log = createWriteStream(logFile, { flags: 'a' });
    const jvm = spawn('java', java('kafka.Kafka', [config]), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = jvm;
    exited = new Promise((done) => jvm.on('exit', () => done()));
    void exited.then(() => log.end());
    await new Promise<void>((started, fail) => {
      let seen = '';
      const timer = setTimeout(() => {
        jvm.kill('SIGKILL');
        fail(new Error(`Kafka did not start within ${timeoutMs} ms (log: ${logFile})`));
      }, timeoutMs);
      const onData = (chunk: Buffer) => {
        log.write(chunk);
        seen = (seen + chunk.toString()).slice(-STARTED.length * 4);
        if (seen.includes(STARTED)) {
          clearTimeout(timer);
          started();
        }
      };
      jvm.stdout.on('data', onData);
      jvm.stderr.on('data', onData);
      jvm.on('error', fail);
      void exited.then(async () => {
        clearTimeout(timer);
        fail(new Error(`Kafka exited during start-up:\n${await logTail()}`));
      });
    });
  };

  const start = async (): Promise<void> => {
    stopping = false;
    starting = launch();
    try {
      await starting;
    } finally {
      starting = undefined;
    }
  };

  const signal = async (name: NodeJS.Signals) => {
    stopping = true;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(name);
    await starting?.catch(() => undefined);
    if (child && child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };

  return {
    brokers: `127.0.0.1:${port}`,
    dir,
    start,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    logTail,
  };
};

/** {@link createKafkaBroker}, started. */
export const startKafkaBroker = async (dir: string, options: BrokerOptions = {}): Promise<KafkaBroker> => {
  const broker = await createKafkaBroker(dir, options);
  await broker.start();
  return broker;
};

/**
 * For the Jest global setup: creates the test run's broker and starts it in the background, so a run
 * without Kafka tests does not wait for it. Hands it to the test files through the environment (not as
 * KAFKA_BROKERS, which would turn the relay on in every test app): `CONFLUX_TEST_KAFKA_BROKERS` and
 * `CONFLUX_TEST_KAFKA_DIR` (where `state` says `ready` or `failed …` once known); or
 * `CONFLUX_TEST_KAFKA_SKIP` with the reason no broker can run here.
 */
export const startTestKafkaInBackground = async (): Promise<KafkaBroker | undefined> => {
  const reason = kafkaUnavailableReason();
  if (reason) {
    process.env.CONFLUX_TEST_KAFKA_SKIP = reason;
    console.warn(`\n[test] no Kafka broker (${reason}): the Kafka tests skip`);
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'conflux-test-kafka-'));
  const broker = await createKafkaBroker(dir);
  process.env.CONFLUX_TEST_KAFKA_BROKERS = broker.brokers;
  process.env.CONFLUX_TEST_KAFKA_DIR = dir;
  const began = Date.now();
  broker
    .start()
    .then(
      () => writeFile(join(dir, 'state'), `ready after ${Date.now() - began} ms`),
      (error: unknown) =>
        writeFile(join(dir, 'state'), `failed: ${error instanceof Error ? error.message : String(error)}`),
    )
    .catch(() => undefined);
  return broker;
};

/** For the Jest global teardown: the broker of {@link startTestKafkaInBackground} and its folder go. */
export const stopTestKafka = async (broker: KafkaBroker | undefined): Promise<void> => {
  if (!broker) return;
  await broker.kill();
  await rm(broker.dir, { recursive: true, force: true });
};
