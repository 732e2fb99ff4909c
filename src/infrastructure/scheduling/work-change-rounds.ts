import type { WorkChange } from '../../application/ports/scheduled-work.port.js';

/**
 * Splits a page of work changes into rounds that keep their meaning when each round runs as one
 * statement per kind of change: inside a round no two changes touch the same row, and a change of a whole
 * report (a delete without step, `generate-when-providers-done`, which looks at every row of the report,
 * and `expire-at`, which must stay on its side of them) is alone with its report. A change goes in the
 * round after the last earlier change it could interfere with (same report and same step, or either of
 * them whole-report); changes of different reports never interfere. So the rounds, in order, end in the
 * same rows as the changes one by one, in far fewer statements: a page of 500 events is 3–6 rounds.
 *
 * @returns rounds in the order to apply them; each keeps the changes' relative order.
 */
export const changeRounds = (changes: readonly WorkChange[]): WorkChange[][] => {
  const reports = new Map<string, { whole: number; any: number; steps: Map<string, number> }>();
  const rounds: WorkChange[][] = [];
  for (const change of changes) {
    const { tenantId, reportId } = change.op === 'upsert' ? change.item : change;
    const key = `${tenantId}\u0000${reportId}`;
    let seen = reports.get(key);
    if (!seen) reports.set(key, (seen = { whole: -1, any: -1, steps: new Map() }));
    const step = stepOf(change);
    const round = 1 + (step === undefined ? seen.any : Math.max(seen.whole, seen.steps.get(step) ?? -1));
    seen.any = Math.max(seen.any, round);
    if (step === undefined) seen.whole = round;
    else seen.steps.set(step, round);
    (rounds[round] ??= []).push(change);
  }
  return rounds;
};

/** The one row a change touches, or undefined when it concerns the whole report. */
const stepOf = (change: WorkChange): string | undefined => {
  switch (change.op) {
    case 'upsert':
      return change.item.step;
    case 'job':
    case 'schedule':
      return change.step;
    case 'delete':
      return change.step;
    case 'generate-when-providers-done':
    case 'expire-at':
      return undefined;
  }
};
