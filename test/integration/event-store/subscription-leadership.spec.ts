import pg from 'pg';
import type { Checkpoint, RecordedEvent } from '../../../src/application/ports/event-store.port.js';
import { runCheckpointedSubscription } from '../../../src/application/shared/checkpointed-subscription.js';
import { PostgresEventStore } from '../../../src/infrastructure/event-store/postgres-event-store.js';
import { PostgresSubscriptionLeadership } from '../../../src/infrastructure/event-store/postgres-subscription-leadership.js';
import { createLogger } from '../../../src/infrastructure/logging/pino-logger.js';
import { createTestDatabase } from '../../support/database.js';

/**
 * One consumer per subscription across instances: two "instances" (leaderships on their own connections)
 * contend for the same subscription; only the leader consumes, and when its session dies (a killed
 * process) the other takes over from the stored checkpoint.
 */
describe('subscription leadership (PostgreSQL session advisory locks)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('leadership');
    store = await PostgresEventStore.create(db.url);
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  const until = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** Sessions holding a leadership lock in this test's database (pg_locks is cluster-wide). */
  const leaderSessions = async (): Promise<number[]> => {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1131368039 AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      return rows.map((r) => r.pid);
    } finally {
      await admin.end();
    }
  };

  /** Kills the session holding the leadership lock, as the death of its process would; returns its pid. */
  const killLeaderSession = async (): Promise<number> => {
    const [pid, ...others] = await leaderSessions();
    expect(others).toEqual([]);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
    return pid;
  };

  it('runs a subscription on one instance at a time and hands it over when the leader dies', async () => {
    const tenant = `t${Date.now()}`;
    const stop = new AbortController();
    let checkpoint: Checkpoint | undefined; // shared, as the checkpoint row in the control database is
    const handledBy: Record<'a' | 'b', RecordedEvent[]> = { a: [], b: [] };
    const instances = (['a', 'b'] as const).map((id) => {
      // Each instance's own stop: a killed process does not come back to contend.
      const own = new AbortController();
      const leadership = new PostgresSubscriptionLeadership({ connectionString: db.url }, 50);
      const running = runCheckpointedSubscription(
        store,
        {
          name: `leadership-test:${tenant}`,
          filter: { tenantId: tenant },
          loadCheckpoint: async () => checkpoint,
          handle: async (events) => {
            handledBy[id].push(...events);
            checkpoint = events[events.length - 1].checkpoint;
          },
        },
        AbortSignal.any([stop.signal, own.signal]),
        createLogger('silent'),
        { leadership, retryDelayMs: 20 },
      );
      return { id, own, leadership, running };
    });
    const append = (n: number) =>
      store.appendToStream(`c-${tenant}.s`, [{ type: 'E', data: { n }, metadata: { tenantId: tenant } }]);
    try {
      for (let n = 0; n < 5; n++) await append(n);
      await until('the first five are handled', () => handledBy.a.length + handledBy.b.length >= 5);
      const leader = handledBy.a.length > 0 ? 'a' : 'b';
      const follower = leader === 'a' ? 'b' : 'a';
      expect(handledBy[follower]).toEqual([]);

      // The leader's process dies: its session ends, and the instance stops (without it, the dying
      // instance may win the lock again before the follower, and no hand-over happens to check).
      const killed = await killLeaderSession();
      instances.find((i) => i.id === leader)!.own.abort();
      // Appended once the follower leads: before that, the dying leader may still apply a page it had
      // started (leadership is not a fence, ADR 0014), and on a loaded machine it may even apply all five.
      await until('the follower leads', async () => (await leaderSessions()).some((pid) => pid !== killed));
      for (let n = 5; n < 10; n++) await append(n);
      await until('the follower took over', () => handledBy[follower].length > 0);
      await until(
        'all ten are handled',
        () => new Set([...handledBy.a, ...handledBy.b].map((e) => e.id)).size >= 10,
      );

      const all = [...handledBy[leader], ...handledBy[follower]].map((e) => (e.data as { n: number }).n);
      expect(new Set(all)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
      // The follower applies what comes after the takeover.
      const last = handledBy[follower].map((e) => (e.data as { n: number }).n).at(-1);
      expect(last).toBe(9);
    } finally {
      stop.abort();
      await Promise.all(instances.map((i) => i.running));
      await Promise.all(instances.map((i) => i.leadership.close()));
    }
  }, 60_000);
});
