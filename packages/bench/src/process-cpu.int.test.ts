import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, it } from '@jest/globals';
import { cpuTimes } from './process-cpu';

// A measured process's children come and go (PostgreSQL ends a backend when its connection
// closes): the CPU they used stays the process's, or a figure taken over a window in which
// one ended drops by what it had used, and can read negative.

it("counts the CPU of a measured process's children that ended during the window", async () => {
  // On a line on stdin, the parent runs a child that burns 300 ms of CPU and waits for it.
  const parent = spawn(
    process.execPath,
    [
      '-e',
      `const { spawnSync } = require('node:child_process');
       process.stdin.once('data', () => {
         spawnSync(process.execPath, ['-e', 'const s = process.cpuUsage(); while (process.cpuUsage(s).user < 300000) {}']);
         process.stdout.write('done\\n');
       });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const before = await cpuTimes({ parent: parent.pid });
    parent.stdin.write('go\n');
    await once(parent.stdout, 'data');
    const after = await cpuTimes({ parent: parent.pid });
    expect(after.parent! - before.parent!).toBeGreaterThanOrEqual(250);
  } finally {
    parent.kill();
    await once(parent, 'exit');
  }
});
