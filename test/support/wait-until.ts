import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Awaits a condition instead of sleeping a fixed time: polls `check` every `everyMs` until it holds, and
 * fails naming `what` after `timeoutMs`. The default deadline is generous (a loaded 2-core machine shared
 * by several test runs is slow, not broken); `TEST_WAIT_SCALE` multiplies it on a slower machine still.
 */
export const waitUntil = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 25,
): Promise<void> => {
  const allowedMs = timeoutMs * Number(process.env.TEST_WAIT_SCALE ?? 1);
  const deadline = Date.now() + allowedMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${allowedMs} ms waiting until ${what}`);
    await sleep(everyMs);
  }
};
