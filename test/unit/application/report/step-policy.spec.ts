import type { WorkItem } from '../../../../src/application/ports/scheduled-work.port.js';
import {
  decideOutcome,
  planStep,
  submitIdempotencyKey,
  type StepContext,
  type StepOutcome,
} from '../../../../src/application/report/process/step-policy.js';
import type { ProviderName } from '../../../../src/domain/report/provider-data.js';
import { reportDecider, type Report } from '../../../../src/domain/report/report.decider.js';
import type { ReportEvent } from '../../../../src/domain/report/report.events.js';
import { fold } from '../../../../src/domain/shared/decider.js';

/**
 * The step policy, given/when/then: *given* the report's events and the claimed row, *when* the step is
 * planned (or a provider outcome arrives), *then* these commands and this row move.
 */
const NOW = '2026-02-01T10:00:00.000Z';
const reportId = 'r1';
const options = {
  firstPollDelayMs: 500,
  backoffBaseMs: 100,
  backoffCapMs: 10_000,
  maxGenerationRetries: 3,
  maxStepClaims: 5,
};
const requested: ReportEvent = {
  type: 'ReportRequested',
  data: {
    reportId,
    tenantId: 'acme',
    requestedBy: 'u1',
    subject: { taxId: 'T-1' },
    period: { from: '2026-01-01', to: '2026-01-31' },
    requestedAt: '2026-02-01T09:59:00.000Z',
  },
};
const submitted = (provider: ProviderName): ReportEvent => ({
  type: 'ProviderJobSubmitted',
  data: { reportId, provider, jobId: `job-${provider}`, submittedAt: NOW },
});
const polled = (provider: ProviderName, attempt: number): ReportEvent => ({
  type: 'ProviderPollScheduled',
  data: { reportId, provider, attempt, dueAt: NOW, scheduledAt: NOW, reason: 'processing' },
});
const result = { key: 'k', rows: 1, bytes: 10, sha256: 'ab'.repeat(32) };
const recorded = (provider: ProviderName): ReportEvent => ({
  type: 'ProviderResultRecorded',
  data: { reportId, provider, result, recordedAt: NOW },
});
const row = (step: WorkItem['step'], change: Partial<WorkItem> = {}): WorkItem => ({
  tenantId: 'acme',
  reportId,
  step,
  kind: 'submit',
  attempt: 0,
  claims: 1,
  jobId: null,
  dueAt: new Date(NOW),
  deadlineAt: new Date(Date.parse(NOW) + 60_000),
  subject: { taxId: 'T-1' },
  period: { from: '2026-01-01', to: '2026-01-31' },
  leaseToken: 1,
  ...change,
});

const given = (events: ReportEvent[], item: WorkItem) => {
  const context: StepContext = {
    item,
    report: fold<Report, ReportEvent>(reportDecider, events),
    now: NOW,
    options,
    random: () => 0.5,
  };
  return {
    whenPlanned: () => planStep(context),
    when: (outcome: StepOutcome) => decideOutcome(context, outcome),
  };
};

describe('step policy', () => {
  describe('plan (decided from the stream, not the row)', () => {
    it('submits a provider job the stream does not know', () => {
      expect(given([requested], row('credit-bureau')).whenPlanned()).toEqual({
        do: 'submit',
        provider: 'credit-bureau',
      });
    });

    it('polls — never submits again — a job the stream knows, even when the row is stale (no job, kind submit)', () => {
      expect(
        given(
          [requested, submitted('credit-bureau'), polled('credit-bureau', 1)],
          row('credit-bureau'),
        ).whenPlanned(),
      ).toEqual({ do: 'poll', provider: 'credit-bureau', jobId: 'job-credit-bureau' });
    });

    it('does nothing but drop the row for a provider the stream shows done (no re-download)', () => {
      expect(
        given(
          [requested, submitted('tax-authority'), polled('tax-authority', 1), recorded('tax-authority')],
          row('tax-authority', { kind: 'poll', attempt: 1, jobId: 'job-tax-authority' }),
        ).whenPlanned(),
      ).toEqual({ do: 'decided', decision: { commands: [], move: { to: 'delete' } } });
    });

    it('drops the row of a cancelled report', () => {
      const cancelled: ReportEvent = {
        type: 'ReportCancelled',
        data: { reportId, cancelledBy: 'u1', cancelledAt: NOW },
      };
      expect(given([requested, cancelled], row('credit-bureau')).whenPlanned()).toMatchObject({
        do: 'decided',
        decision: { commands: [], move: { to: 'delete' } },
      });
    });

    it('fails the provider past its deadline (database clock), naming it', () => {
      const plan = given(
        [requested],
        row('credit-bureau', { deadlineAt: new Date(Date.parse(NOW) - 1) }),
      ).whenPlanned();
      expect(plan).toEqual({
        do: 'decided',
        decision: {
          commands: [
            {
              type: 'RecordProviderFailure',
              data: {
                reportId,
                provider: 'credit-bureau',
                code: 'deadline_exceeded',
                message: 'credit-bureau did not answer before its deadline',
                failedAt: NOW,
              },
            },
          ],
          move: { to: 'delete' },
        },
      });
    });

    it('ends a crash loop: a step claimed more than maxStepClaims times fails its provider', () => {
      const plan = given(
        [requested, submitted('bank-transactions'), polled('bank-transactions', 1)],
        row('bank-transactions', { claims: 6 }),
      ).whenPlanned();
      expect(plan).toMatchObject({
        do: 'decided',
        decision: {
          commands: [{ type: 'RecordProviderFailure', data: { code: 'step_attempts_exhausted' } }],
          move: { to: 'delete' },
        },
      });
    });

    it('fails the report when generation keeps crashing', () => {
      const all = (['bank-transactions', 'credit-bureau', 'tax-authority'] as const).flatMap((p) => [
        submitted(p),
        recorded(p),
      ]);
      expect(given([requested, ...all], row('generation', { claims: 4 })).whenPlanned()).toMatchObject({
        do: 'decided',
        decision: { commands: [{ type: 'FailReport', data: { code: 'generation_failed' } }] },
      });
      expect(given([requested, ...all], row('generation', { claims: 3 })).whenPlanned()).toEqual({
        do: 'generate',
      });
    });
  });

  describe('outcome → commands + row move', () => {
    it('a submitted job: records it with its first poll, in one append, and moves the row to poll 1', () => {
      expect(given([requested], row('credit-bureau')).when({ type: 'submitted', jobId: 'j1' })).toEqual({
        commands: [
          {
            type: 'RecordProviderJob',
            data: { reportId, provider: 'credit-bureau', jobId: 'j1', submittedAt: NOW },
          },
          {
            type: 'SchedulePoll',
            data: {
              reportId,
              provider: 'credit-bureau',
              attempt: 1,
              dueAt: '2026-02-01T10:00:00.500Z',
              scheduledAt: NOW,
              reason: 'submitted',
            },
          },
        ],
        move: { to: 'poll', attempt: 1, jobId: 'j1', delayMs: 500 },
      });
    });

    it("still processing: the next attempt after the stream's count, never sooner than Retry-After", () => {
      const decision = given(
        [requested, submitted('credit-bureau'), polled('credit-bureau', 1), polled('credit-bureau', 2)],
        row('credit-bureau', { kind: 'poll', attempt: 1 }),
      ).when({ type: 'processing', retryAfterMs: 3000 });
      expect(decision.move).toEqual({ to: 'poll', attempt: 3, jobId: 'job-credit-bureau', delayMs: 3000 });
      expect(decision.commands).toMatchObject([
        { type: 'SchedulePoll', data: { attempt: 3, reason: 'processing' } },
      ]);
    });

    it('unavailable at submit: no event, the same submit again later (same idempotency key)', () => {
      expect(
        given([requested], row('bank-transactions', { claims: 2 })).when({
          type: 'unavailable',
          retryAfterMs: 1000,
        }),
      ).toEqual({
        commands: [],
        move: { to: 'retry', delayMs: 1000 },
      });
    });

    it('unavailable while polling: a new poll attempt marked retry', () => {
      expect(
        given(
          [requested, submitted('bank-transactions'), polled('bank-transactions', 1)],
          row('bank-transactions'),
        ).when({
          type: 'unavailable',
        }),
      ).toMatchObject({
        commands: [{ type: 'SchedulePoll', data: { attempt: 2, reason: 'retry' } }],
        move: { to: 'poll', attempt: 2 },
      });
    });

    it('a stored result is recorded and the row goes', () => {
      expect(
        given([requested, submitted('tax-authority'), polled('tax-authority', 1)], row('tax-authority')).when(
          {
            type: 'result-stored',
            result,
          },
        ),
      ).toEqual({
        commands: [
          {
            type: 'RecordProviderResult',
            data: { reportId, provider: 'tax-authority', result, recordedAt: NOW },
          },
        ],
        move: { to: 'delete' },
      });
    });

    it('a rejected request or a failed job fails the provider', () => {
      expect(
        given([requested], row('tax-authority')).when({ type: 'rejected', message: 'bad' }),
      ).toMatchObject({
        commands: [{ type: 'RecordProviderFailure', data: { code: 'provider_rejected', message: 'bad' } }],
        move: { to: 'delete' },
      });
      expect(
        given([requested, submitted('tax-authority'), polled('tax-authority', 1)], row('tax-authority')).when(
          {
            type: 'job-failed',
            code: 'SUBJECT_UNAVAILABLE',
            message: 'no',
          },
        ),
      ).toMatchObject({
        commands: [{ type: 'RecordProviderFailure', data: { code: 'SUBJECT_UNAVAILABLE' } }],
      });
    });

    it('a generation error retries until maxGenerationRetries claims, then fails the report', () => {
      expect(given([requested], row('generation', { claims: 2 })).when({ type: 'generation-error' })).toEqual(
        {
          commands: [],
          move: { to: 'retry', delayMs: 200 },
        },
      );
      expect(
        given([requested], row('generation', { claims: 3 })).when({ type: 'generation-error' }),
      ).toMatchObject({
        commands: [{ type: 'FailReport', data: { code: 'generation_failed' } }],
        move: { to: 'delete' },
      });
    });
  });

  describe('retention', () => {
    const cancelled: ReportEvent = {
      type: 'ReportCancelled',
      data: { reportId, cancelledBy: 'u1', cancelledAt: NOW },
    };
    const expired: ReportEvent = { type: 'ReportFilesExpired', data: { reportId, expiredAt: NOW } };
    const retention = row('retention', { kind: 'expire' });

    it("deletes a final report's objects, then records it and drops the row", () => {
      expect(given([requested, cancelled], retention).whenPlanned()).toEqual({ do: 'expire' });
      expect(given([requested, cancelled], retention).when({ type: 'objects-deleted' })).toEqual({
        commands: [{ type: 'ExpireFiles', data: { reportId, expiredAt: NOW } }],
        move: { to: 'delete' },
      });
    });

    it('drops the row of a report already expired, or not final (a stale row)', () => {
      const finished = { do: 'decided', decision: { commands: [], move: { to: 'delete' } } };
      expect(given([requested, cancelled, expired], retention).whenPlanned()).toEqual(finished);
      expect(given([requested], retention).whenPlanned()).toEqual(finished);
    });

    it('stamps a completed report with completedAt + fileRetentionMs', () => {
      const context: StepContext = {
        item: row('generation'),
        report: fold<Report, ReportEvent>(reportDecider, [requested]),
        now: NOW,
        options: { ...options, fileRetentionMs: 60_000 },
      };
      expect(decideOutcome(context, { type: 'generated', files: [] }).commands).toEqual([
        {
          type: 'CompleteReport',
          data: { reportId, files: [], completedAt: NOW, retainedUntil: '2026-02-01T10:01:00.000Z' },
        },
      ]);
    });
  });

  it('derives the submit idempotency key from tenant, report and provider: stable across retries and crashes', () => {
    expect(submitIdempotencyKey('acme', 'r1', 'credit-bureau')).toBe(
      submitIdempotencyKey('acme', 'r1', 'credit-bureau'),
    );
    expect(submitIdempotencyKey('acme', 'r1', 'credit-bureau')).not.toBe(
      submitIdempotencyKey('acme', 'r1', 'tax-authority'),
    );
    expect(submitIdempotencyKey('acme', 'r1', 'credit-bureau')).not.toBe(
      submitIdempotencyKey('acme', 'r2', 'credit-bureau'),
    );
  });
});
