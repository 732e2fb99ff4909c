import type { WorkChange, WorkStep } from '../../../../src/application/ports/scheduled-work.port.js';
import { changeRounds } from '../../../../src/infrastructure/scheduling/work-change-rounds.js';

const upsert = (reportId: string, step: WorkStep): WorkChange => ({
  op: 'upsert',
  item: {
    tenantId: 'acme',
    reportId,
    step,
    kind: 'submit',
    attempt: 0,
    jobId: null,
    subject: { taxId: 'x' },
    period: { from: '2025-01-01', to: '2025-12-31' },
    deadlineInMs: 1000,
  },
});
const job = (reportId: string, step: WorkStep): WorkChange => ({
  op: 'job',
  tenantId: 'acme',
  reportId,
  step,
  jobId: `job-${reportId}-${step}`,
});
const remove = (reportId: string, step?: WorkStep): WorkChange => ({
  op: 'delete',
  tenantId: 'acme',
  reportId,
  ...(step ? { step } : {}),
});
const generate = (reportId: string): WorkChange => ({
  op: 'generate-when-providers-done',
  tenantId: 'acme',
  reportId,
});

const shape = (rounds: WorkChange[][]) =>
  rounds.map((round) =>
    round.map(
      (c) =>
        `${c.op}:${c.op === 'upsert' ? `${c.item.reportId}/${c.item.step}` : `${c.reportId}/${'step' in c ? (c.step ?? '*') : '*'}`}`,
    ),
  );

describe('work change rounds', () => {
  it('given the requests of many reports, when split, then they all go in one round', () => {
    const changes = ['r1', 'r2', 'r3'].flatMap((r) => [
      upsert(r, 'bank-transactions'),
      upsert(r, 'credit-bureau'),
      upsert(r, 'tax-authority'),
    ]);
    expect(changeRounds(changes)).toEqual([changes]);
  });

  it('given two changes of one row, when split, then the later one goes in a later round', () => {
    expect(
      shape(
        changeRounds([
          upsert('r1', 'bank-transactions'),
          job('r1', 'bank-transactions'),
          job('r2', 'bank-transactions'),
        ]),
      ),
    ).toEqual([['upsert:r1/bank-transactions', 'job:r2/bank-transactions'], ['job:r1/bank-transactions']]);
  });

  it('given a whole-report change, when split, then it comes after every earlier change of its report and before every later one', () => {
    const changes = [
      upsert('r1', 'bank-transactions'),
      job('r1', 'credit-bureau'),
      remove('r1'),
      upsert('r1', 'tax-authority'),
      upsert('r2', 'tax-authority'),
    ];
    expect(shape(changeRounds(changes))).toEqual([
      ['upsert:r1/bank-transactions', 'job:r1/credit-bureau', 'upsert:r2/tax-authority'],
      ['delete:r1/*'],
      ['upsert:r1/tax-authority'],
    ]);
  });

  it('given a result then the generation check, when split, then the check runs after the row is deleted', () => {
    expect(shape(changeRounds([remove('r1', 'bank-transactions'), generate('r1'), generate('r2')]))).toEqual([
      ['delete:r1/bank-transactions', 'generate-when-providers-done:r2/*'],
      ['generate-when-providers-done:r1/*'],
    ]);
  });

  it('given no changes, when split, then there is no round', () => {
    expect(changeRounds([])).toEqual([]);
  });
});
