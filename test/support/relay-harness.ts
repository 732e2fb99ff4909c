import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { ReportNotificationRelay } from '../../src/application/delivery/report-notification-relay.js';
import type { NewEvent } from '../../src/application/ports/event-store.port.js';
import { reportStream } from '../../src/application/report/report-stream.js';
import { PostgresEventStore } from '../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresParkedEvents } from '../../src/infrastructure/event-store/postgres-parked-events.js';
import { createLogger } from '../../src/infrastructure/logging/pino-logger.js';
import { KafkaMessageBus } from '../../src/infrastructure/messaging/kafka-message-bus.js';
import { PostgresDeliveryCheckpoints } from '../../src/infrastructure/messaging/postgres-delivery-checkpoints.js';
import { createTestDatabase } from './database.js';

export const SHA = 'ab'.repeat(32);

/** A final report event as the decider writes it (ReportReady with one file, ReportFailed, ReportCancelled). */
export const finalEvent = (
  type: 'ReportReady' | 'ReportFailed' | 'ReportCancelled',
  reportId: string,
  tenantId: string,
  metadata: Record<string, string> = {},
): NewEvent => {
  const at = new Date().toISOString();
  const data =
    type === 'ReportReady'
      ? {
          reportId,
          files: [
            {
              name: 'transactions.csv',
              contentType: 'text/csv',
              key: `tenants/${tenantId}/reports/${reportId}/transactions.csv`,
              rows: 3,
              bytes: 120,
              sha256: SHA,
            },
          ],
          completedAt: at,
        }
      : type === 'ReportFailed'
        ? {
            reportId,
            code: 'provider-failed',
            message: 'credit-bureau failed',
            provider: 'credit-bureau',
            failedAt: at,
          }
        : { reportId, cancelledBy: 'u1', cancelledAt: at };
  return { id: randomUUID(), type, data, metadata: { tenantId, ...metadata } };
};

export type RelayHarness = Readonly<{
  store: PostgresEventStore;
  topic: string;
  tenantId: string;
  /** Appends `events` to the report's stream; returns their ids. */
  append(reportId: string, events: readonly NewEvent[]): Promise<string[]>;
  /** A relay on `brokers` (started), with the log lines it wrote. */
  startRelay(
    brokers: string,
  ): Promise<{ relay: ReportNotificationRelay; logs: string[]; stop(): Promise<void> }>;
  close(): Promise<void>;
}>;

/** A fresh control database with the event store and the delivery checkpoints, and a topic of its own. */
export const relayHarness = async (): Promise<RelayHarness> => {
  const database = await createTestDatabase('conflux_relay');
  const store = await PostgresEventStore.create(database.url);
  const pool = new pg.Pool({ connectionString: database.url, max: 3 });
  // Dropping the database at the end ends whatever connection is still open: expected then, not a failure.
  pool.on('error', () => undefined);
  const checkpoints = new PostgresDeliveryCheckpoints(pool);
  await checkpoints.migrate();
  const parked = new PostgresParkedEvents(pool);
  await parked.migrate();
  const topic = `reports-${randomBytes(4).toString('hex')}`;
  const tenantId = `t${randomBytes(4).toString('hex')}`;
  return {
    store,
    topic,
    tenantId,
    append: async (reportId, events) => {
      await store.appendToStream(reportStream(tenantId, reportId), events);
      return events.map((e) => e.id!);
    },
    startRelay: async (brokers) => {
      const logs: string[] = [];
      const logger = createLogger('debug', { write: (line: string) => logs.push(line) });
      const bus = new KafkaMessageBus(
        { brokers: [brokers], clientId: 'conflux-test', topic, topicPartitions: 3 },
        logger,
      );
      // Parking on, after 2 failures: a broker outage must never count as the event's failure.
      const relay = new ReportNotificationRelay(store, bus, checkpoints, logger, {
        retryDelayMs: 100,
        maxRetryDelayMs: 1000,
        maxAttempts: 2,
        parked,
      });
      relay.onApplicationBootstrap();
      return { relay, logs, stop: () => relay.beforeApplicationShutdown() };
    },
    close: async () => {
      await store.close();
      await pool.end();
      await database.drop();
    },
  };
};
