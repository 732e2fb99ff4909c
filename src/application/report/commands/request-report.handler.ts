import type { AuthUser } from '../../auth/auth-user.js';
import { createHash } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { Inject } from '@nestjs/common';
import { Command, CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Period } from '../../../domain/report/provider-data.js';
import { type Report, reportDecider } from '../../../domain/report/report.decider.js';
import { upcast } from '../../../domain/report/report.events.js';
import { fold } from '../../../domain/shared/decider.js';
import { EVENT_STORE, type EventStore } from '../../ports/event-store.port.js';
import { TENANT_DATABASES, type TenantDatabases } from '../../ports/tenant-databases.port.js';
import {
  IDEMPOTENCY_IN_FLIGHT_GRACE_MS,
  IDEMPOTENCY_RETENTION_MS,
  IdempotencyKey,
} from '../idempotency-key.entity.js';
import {
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  SubjectNotAllowed,
  SubjectRequired,
} from '../report-access.js';
import { reportStream } from '../report-stream.js';
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
  ) {}

  async execute({ caller, body, idempotencyKey, traceparent }: RequestNewReport): Promise<Report> {
    const em = await this.databases.em(caller.tenantId);
    const user = await em.findOne(User, { id: caller.userId });
    if (!user) throw new SubjectNotAllowed();
    const taxId = body.subject?.taxId ?? user.taxId;
    if (!taxId) throw new SubjectRequired();
    if (taxId !== user.taxId && caller.role !== 'admin') throw new SubjectNotAllowed();
    const period = body.period ?? lastTwelveMonths(new Date());

    const reportId = idempotencyKey
      ? await this.reserveKey(caller, idempotencyKey, { subject: { taxId }, period })
      : uuidv7();
    const existing = fold(
      reportDecider,
      (await this.store.readStream(reportStream(caller.tenantId, reportId))).map(upcast),
    );
    const report =
      existing.status !== 'initial'
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
                    requestedAt: new Date().toISOString(),
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
    if (idempotencyKey) {
      await this.databases.transactional(caller.tenantId, async (tx) => {
        await tx.nativeUpdate(
          IdempotencyKey,
          { id: `${caller.userId}:${idempotencyKey}` },
          { completedAt: new Date() },
        );
      });
    }
    return report;
  }

  /**
   * Same key and body → the same report id; another body → 422; the first request still running → 409.
   * A record whose request died in flight is taken over after a grace period (its report id is kept, so
   * at most one report exists per key).
   */
  private async reserveKey(caller: AuthUser, key: string, request: unknown): Promise<string> {
    const id = `${caller.userId}:${key}`;
    const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    return this.databases.transactional(caller.tenantId, async (em) => {
      const now = Date.now();
      await em.nativeDelete(IdempotencyKey, {
        id,
        createdAt: { $lt: new Date(now - IDEMPOTENCY_RETENTION_MS) },
      });
      const inserted = await em.execute<{ report_id: string }[]>(
        `INSERT INTO idempotency_keys (id, request_hash, report_id, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING RETURNING report_id`,
        [id, requestHash, uuidv7(), new Date(now)],
      );
      if (inserted[0]) return inserted[0].report_id;
      const record = await em.findOneOrFail(IdempotencyKey, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (record.requestHash !== requestHash) throw new IdempotencyKeyReused();
      if (!record.completedAt && now - record.createdAt.getTime() < IDEMPOTENCY_IN_FLIGHT_GRACE_MS) {
        throw new IdempotencyKeyInFlight();
      }
      return record.reportId;
    });
  }
}

/** Default period: the last 12 months up to today (UTC), inclusive. */
export const lastTwelveMonths = (today: Date): Period => {
  const to = today.toISOString().slice(0, 10);
  const from = new Date(Date.UTC(today.getUTCFullYear() - 1, today.getUTCMonth(), today.getUTCDate() + 1));
  return { from: from.toISOString().slice(0, 10), to };
};
