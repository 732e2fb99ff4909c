import type { AuthUser } from '../../auth/auth-user.js';
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Inject } from '@nestjs/common';
import { Command, CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Period } from '../../../domain/report/provider-data.js';
import type { Report } from '../../../domain/report/report.decider.js';
import { CLOCK, type Clock } from '../../ports/clock.port.js';
import { EVENT_STORE, type EventStore } from '../../ports/event-store.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../../ports/tenant-databases.port.js';
import {
  IDEMPOTENCY_IN_FLIGHT_GRACE_MS,
  IDEMPOTENCY_RETENTION_MS,
  IdempotencyKey,
} from '../idempotency-key.entity.js';
import {
  assertMemberMayRequest,
  CallerUnknown,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  SubjectRequired,
} from '../report-access.js';
import { loadReport } from '../report-stream.js';
import { uuidv7 } from '../../shared/uuidv7.js';
import { User } from '../../user/user.entity.js';
import { DecideReport } from './decide-report.handler.js';

export type ReportRequestBody = Readonly<{ subject?: { taxId: string }; period?: Period }>;

/** POST /v1/reports: the caller asks for a report; answers with the report's state once it is recorded. */
export class RequestNewReport extends Command<Report> {
  constructor(
    readonly caller: AuthUser,
    readonly body: ReportRequestBody,
    readonly idempotencyKey: string | undefined,
    readonly traceparent: string | undefined,
  ) {
    super();
  }
}

@CommandHandler(RequestNewReport)
export class RequestNewReportHandler implements ICommandHandler<RequestNewReport> {
  constructor(
    @Inject(TENANT_DATABASES) private readonly databases: TenantDatabases,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly commands: CommandBus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute({ caller, body, idempotencyKey, traceparent }: RequestNewReport): Promise<Report> {
    const em = await this.databases.em(caller.tenantId);
    const user = await em.findOne(User, { id: caller.userId });
    if (!user) throw new CallerUnknown();
    const taxId = body.subject?.taxId ?? user.taxId;
    if (!taxId) throw new SubjectRequired();
    // An admin per the token AND the tenant database: a demotion (PATCH) counts before the token expires.
    if (caller.role !== 'admin' || user.role !== 'admin') assertMemberMayRequest(user, taxId);
    const now = this.clock.now();
    const period = body.period ?? lastTwelveMonths(now);

    const reservation = idempotencyKey
      ? await this.reserveKey(em, caller, idempotencyKey, fingerprint(body))
      : ({ reportId: uuidv7(), fresh: true, completed: false } satisfies Reservation);
    const { reportId } = reservation;
    // A fresh id has no stream yet: DecideReport reads the (empty) stream itself, so reading it here too
    // would only cost a round trip. Only a key seen before can name a report that already exists.
    const existing = reservation.fresh ? undefined : await loadReport(this.store, caller.tenantId, reportId);
    const report =
      existing && existing.status !== 'initial'
        ? existing
        : (
            await this.commands.execute(
              new DecideReport(
                {
                  type: 'RequestReport',
                  data: {
                    reportId,
                    tenantId: caller.tenantId,
                    requestedBy: caller.userId,
                    subject: { taxId },
                    period,
                    requestedAt: now.toISOString(),
                  },
                },
                {
                  tenantId: caller.tenantId,
                  userId: caller.userId,
                  correlationId: reportId,
                  ...(traceparent ? { traceparent } : {}),
                },
              ),
            )
          ).state;
    if (idempotencyKey && !reservation.completed) {
      // One autocommit statement: nothing else has to change with it, so no transaction is needed.
      await em.nativeUpdate(
        IdempotencyKey,
        { id: keyId(caller, idempotencyKey) },
        { completedAt: new Date() },
      );
    }
    return report;
  }

  /**
   * Same key and body → the same report id; another body → 422; the first request still running → 409.
   * A record whose request died in flight is taken over after a grace period (its report id is kept, so
   * at most one report exists per key).
   *
   * The usual case (a new key) is one autocommit statement: the insert, which also replaces a record past
   * its retention. Only a key seen before costs a second statement (a read, or the take-over of a stale
   * in-flight record, which is atomic so that two retries cannot both take it over).
   */
  private async reserveKey(
    em: EntityManager,
    caller: AuthUser,
    key: string,
    requestHash: string,
  ): Promise<Reservation> {
    const id = keyId(caller, key);
    const now = Date.now();
    const inserted = await em.execute<{ report_id: string }[]>(
      `INSERT INTO idempotency_keys (id, request_hash, report_id, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET request_hash = excluded.request_hash, report_id = excluded.report_id,
         created_at = excluded.created_at, completed_at = NULL
       WHERE idempotency_keys.created_at < ?
       RETURNING report_id`,
      [id, requestHash, uuidv7(), new Date(now), new Date(now - IDEMPOTENCY_RETENTION_MS)],
    );
    if (inserted[0]) return { reportId: inserted[0].report_id, fresh: true, completed: false };

    const [record] = await em.execute<
      { request_hash: string; report_id: string; completed_at: Date | null; taken_over: boolean }[]
    >(
      // Takes over a stale in-flight record (restarting its grace period) in the same statement that reads
      // it; the CTE's UPDATE is atomic, so of two concurrent retries only one gets `taken_over`.
      `WITH takeover AS (
         UPDATE idempotency_keys SET created_at = ? WHERE id = ? AND request_hash = ?
           AND completed_at IS NULL AND created_at < ?
         RETURNING id)
       SELECT request_hash, report_id, completed_at, EXISTS (SELECT 1 FROM takeover) AS taken_over
       FROM idempotency_keys WHERE id = ?`,
      [new Date(now), id, requestHash, new Date(now - IDEMPOTENCY_IN_FLIGHT_GRACE_MS), id],
    );
    // Gone between the two statements (only a record past its retention is replaced, so this is rare): the
    // key is free again, start over.
    if (!record) return this.reserveKey(em, caller, key, requestHash);
    if (record.request_hash !== requestHash) throw new IdempotencyKeyReused();
    if (record.completed_at) return { reportId: record.report_id, fresh: false, completed: true };
    if (!record.taken_over) throw new IdempotencyKeyInFlight();
    return { reportId: record.report_id, fresh: false, completed: false };
  }
}

type Reservation = Readonly<{
  reportId: string;
  /** The id was chosen by this request: no stream exists for it yet. */
  fresh: boolean;
  /** The key's first request finished: this one replays its answer. */
  completed: boolean;
}>;

const keyId = (caller: AuthUser, key: string): string => `${caller.userId}:${key}`;

/**
 * What an Idempotency-Key is bound to: sha256 (hex) of the body as the client sent it (parsed, keys sorted),
 * never of the defaults applied to it — a default period moves at midnight UTC, and a retry of `{}` a second
 * later must still be the same request (IETF Idempotency-Key draft: the fingerprint is of the request).
 */
export const fingerprint = (body: ReportRequestBody): string =>
  createHash('sha256').update(canonicalJson(body)).digest('hex');

/** JSON with object keys sorted at every level, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are one request. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );

/** Default period: the last 12 months up to today (UTC), inclusive. */
export const lastTwelveMonths = (today: Date): Period => {
  const to = today.toISOString().slice(0, 10);
  const from = new Date(Date.UTC(today.getUTCFullYear() - 1, today.getUTCMonth(), today.getUTCDate() + 1));
  return { from: from.toISOString().slice(0, 10), to };
};
