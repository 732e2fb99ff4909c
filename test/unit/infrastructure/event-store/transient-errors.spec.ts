import type { Checkpoint } from '../../../../src/application/ports/event-store.port.js';
import type { ParkedEvent, ParkedEvents } from '../../../../src/application/ports/parked-events.port.js';
import { runCheckpointedSubscription } from '../../../../src/application/shared/checkpointed-subscription.js';
import {
  TenantConnectionsExhausted,
  TenantDatabaseUnavailable,
} from '../../../../src/domain/tenant/tenant.errors.js';
import { isTransientDatabaseError } from '../../../../src/infrastructure/event-store/transient-errors.js';
import { createLogger } from '../../../../src/infrastructure/logging/pino-logger.js';
import { memoryLog } from '../../../support/memory-log.js';

/**
 * A tenant projection writes to its tenant's database. When that database is down (TenantDatabaseUnavailable)
 * or every tenant connection is in use (TenantConnectionsExhausted), the error says nothing about the event:
 * the subscription must wait it out, not park good events and move past them (issue 8, items 2 and 3).
 */
const outages: [string, () => Error][] = [
  ['the tenant database is unavailable', () => new TenantDatabaseUnavailable(5)],
  ['the tenant connection budget is exhausted', () => new TenantConnectionsExhausted(5)],
  [
    'a driver error wraps a lost connection',
    () =>
      Object.assign(new Error('query failed'), { cause: Object.assign(new Error('x'), { code: '57P01' }) }),
  ],
];

describe('isTransientDatabaseError in a tenant projection', () => {
  it.each(outages)(
    'given %s for 8 attempts of one event, then nothing is parked and every event is applied once when it ends',
    async (_, outage) => {
      const { store } = memoryLog(3);
      const parked: ParkedEvent[] = [];
      const applied: number[] = [];
      let checkpoint: Checkpoint | undefined;
      let attempts = 0;
      const controller = new AbortController();
      const running = runCheckpointedSubscription(
        store,
        {
          name: 'reports:acme',
          filter: {},
          loadCheckpoint: async () => checkpoint,
          handle: async (page) => {
            if (page.some((e) => e.id === 'e1') && ++attempts <= 8) throw outage();
            applied.push(...page.map((e) => (e.data as { i: number }).i));
            checkpoint = page[page.length - 1].checkpoint;
          },
          skip: async (e) => {
            checkpoint = e.checkpoint;
          },
        },
        controller.signal,
        createLogger('silent'),
        {
          maxAttempts: 3,
          retryDelayMs: 1,
          maxRetryDelayMs: 2,
          parked: { park: async (p: ParkedEvent) => void parked.push(p) } as unknown as ParkedEvents,
          isTransient: isTransientDatabaseError,
        },
      );
      const deadline = Date.now() + 10_000;
      while (applied.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      await running;

      expect(parked).toEqual([]);
      expect(applied).toEqual([0, 1, 2]);
    },
  );
});
