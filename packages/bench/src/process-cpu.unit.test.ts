import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, it } from '@jest/globals';
import { cpuTimes } from './process-cpu';

/** A child that uses `cpuMs` of CPU time (not wall time), then exits. */
async function burnInChild(cpuMs: number): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `while (Object.values(process.cpuUsage()).reduce((a, b) => a + b) < ${cpuMs * 1000});`,
  ]);
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`the burning child exited ${code}`);
}

it("counts the CPU of a process's children after they ended (PostgreSQL's backends end)", async () => {
  const before = await cpuTimes({ me: process.pid });
  await burnInChild(300);
  const after = await cpuTimes({ me: process.pid });
  // The child's 300 ms (10 ms ticks), whatever this process spent besides.
  expect(after.me! - before.me!).toBeGreaterThanOrEqual(280);
});
