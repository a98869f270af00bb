import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A test's `waitFor(what, condition, timeoutMs)`: polls `condition` every `intervalMs` until it
 * holds, and when `timeoutMs` runs out throws, naming what it waited for and showing the last
 * 30 lines of `output` (what the functions under test printed).
 */
export function waiterShowing(output: readonly string[], intervalMs = 250) {
  return async function waitFor(
    what: string,
    condition: () => Promise<boolean>,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; function output:\n${output.slice(-30).join('\n')}`,
        );
      }
      await sleep(intervalMs);
    }
  };
}
