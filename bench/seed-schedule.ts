import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The seed's schedule, simulated against the same provider simulator as Conflux: the seed (a BullMQ job per
 * report) submitted the three provider jobs, then polled them all on a fixed 10-s repeat until each was
 * done, then downloaded the results. Only the schedule is simulated — no queue, no file stage — so its
 * times are a lower bound of the seed's: a ratio to it flatters the seed, never Conflux.
 */
export const SEED_POLL_INTERVAL_MS = 10_000;

const PROVIDERS = ['bank-transactions', 'credit-bureau', 'tax-authority'] as const;
const PERIOD = { from: '2025-01-01', to: '2025-12-31' };

/**
 * One report on the seed's schedule: ms from the first submit until every result is downloaded, or an
 * `Error` naming what the simulator answered.
 */
export const seedScheduleReport = async (
  simulator: string,
  taxId: string,
  timeoutMs: number,
): Promise<number> => {
  const started = performance.now();
  const jobs = await Promise.all(
    PROVIDERS.map(async (provider) => {
      const response = await fetch(`${simulator}/${provider}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject: { taxId }, period: PERIOD }),
      });
      if (response.status !== 202) throw new Error(`seed submit to ${provider}: ${response.status}`);
      return { provider, jobId: ((await response.json()) as { jobId: string }).jobId };
    }),
  );
  let pending = jobs;
  while (pending.length > 0) {
    if (performance.now() - started > timeoutMs) throw new Error('seed schedule: timed out');
    await sleep(SEED_POLL_INTERVAL_MS);
    const statuses = await Promise.all(
      pending.map(async (job) => {
        const response = await fetch(`${simulator}/${job.provider}/jobs/${job.jobId}`);
        return ((await response.json()) as { status: string }).status;
      }),
    );
    if (statuses.includes('failed')) throw new Error('seed schedule: a provider job failed');
    pending = pending.filter((_, i) => statuses[i] !== 'done');
  }
  await Promise.all(
    jobs.map(async (job) => {
      const response = await fetch(`${simulator}/${job.provider}/jobs/${job.jobId}/result`);
      if (response.status !== 200) throw new Error(`seed result of ${job.provider}: ${response.status}`);
      await response.arrayBuffer();
    }),
  );
  return performance.now() - started;
};
