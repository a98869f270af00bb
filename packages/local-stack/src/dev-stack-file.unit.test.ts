import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  alreadyRunning,
  claimDevStack,
  type DevStackClaim,
  devStackLockFile,
  type RunningDevStack,
  readyHint,
} from './dev-stack-file';

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

let dir: string;
let stackFile: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dev-stack-file-'));
  stackFile = join(dir, '.local', 'dev-stack.json');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const isClaim = (claim: DevStackClaim | RunningDevStack): claim is DevStackClaim =>
  !('pid' in claim);

describe('claimDevStack: one pnpm dev per checkout', () => {
  it('refuses a second pnpm dev while the first runs, and says where the first one is', async () => {
    const first = await claimDevStack(stackFile, process.pid);
    expect(isClaim(first)).toBe(true);
    const ready = { functions: { 'place-order': 'http://127.0.0.1:4321' }, pid: process.pid };
    await writeFile(stackFile, JSON.stringify(ready));

    const second = await claimDevStack(stackFile, process.pid + 1_000_000);
    expect(second).toEqual({
      pid: process.pid,
      stackFile,
      placeOrderUrl: 'http://127.0.0.1:4321',
    });
    // A pid may belong to another program after a reboot: the way out is named.
    expect(alreadyRunning(second as RunningDevStack)).toContain(
      `delete ${devStackLockFile(stackFile)}`,
    );
    expect(alreadyRunning(second as RunningDevStack)).toMatch(
      new RegExp(
        `already runs in this checkout \\(pid ${process.pid}; place-order at http://127\\.0\\.0\\.1:4321`,
      ),
    );
    // The refused one touched nothing of the running one's.
    expect(JSON.parse(await readFile(stackFile, 'utf8'))).toEqual(ready);
    expect(await readFile(devStackLockFile(stackFile), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('says the first one is still starting when it has no ready line yet', async () => {
    await claimDevStack(stackFile, process.pid);
    const second = (await claimDevStack(stackFile, process.pid + 1_000_000)) as RunningDevStack;
    expect(second.placeOrderUrl).toBeUndefined();
    expect(alreadyRunning(second)).toContain('still starting');
  });

  it('takes over the lock of a pnpm dev that crashed', async () => {
    const crashed = deadPid();
    await claimDevStack(stackFile, crashed);
    const next = await claimDevStack(stackFile, process.pid);
    expect(isClaim(next)).toBe(true);
    expect(await readFile(devStackLockFile(stackFile), 'utf8')).toBe(`${process.pid}\n`);
  });

  it("lets exactly one of two pnpm dev started at once take over a crashed one's lock", async () => {
    const contenders = [process.pid, process.ppid];
    const crashed = deadPid();
    await mkdir(dirname(stackFile), { recursive: true });
    for (let round = 0; round < 100; round++) {
      await writeFile(devStackLockFile(stackFile), `${crashed}\n`);
      const claims = await Promise.all(contenders.map((pid) => claimDevStack(stackFile, pid)));
      const winners = contenders.filter((_, index) => isClaim(claims[index]!));
      expect({ round, winners: winners.length }).toEqual({ round, winners: 1 });
      // The loser is told the winner runs, and the lock names the winner.
      const loser = claims.find((claim) => !isClaim(claim)) as RunningDevStack;
      expect(loser.pid).toBe(winners[0]);
      expect(await readFile(devStackLockFile(stackFile), 'utf8')).toBe(`${winners[0]}\n`);
      await (claims.find(isClaim) as DevStackClaim).release();
    }
  });

  it('takes over a stale lock whose taker crashed while taking it over', async () => {
    const lock = devStackLockFile(stackFile);
    await mkdir(dirname(stackFile), { recursive: true });
    await writeFile(lock, `${deadPid()}\n`);
    await writeFile(`${lock}.takeover`, `${deadPid()}\n`);
    const next = await claimDevStack(stackFile, process.pid);
    expect(isClaim(next)).toBe(true);
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    expect(existsSync(`${lock}.takeover`)).toBe(false);
  });

  it('on release removes its own stack file and lock, never another one', async () => {
    const claim = (await claimDevStack(stackFile, process.pid)) as DevStackClaim;
    await writeFile(stackFile, JSON.stringify({ pid: process.pid }));
    await claim.release();
    expect(existsSync(stackFile)).toBe(false);
    expect(existsSync(devStackLockFile(stackFile))).toBe(false);

    // A process whose lock was taken over (it was thought dead) leaves the new owner's be.
    const old = (await claimDevStack(stackFile, process.pid)) as DevStackClaim;
    const other = process.ppid;
    await writeFile(devStackLockFile(stackFile), `${other}\n`);
    await writeFile(stackFile, JSON.stringify({ pid: other }));
    await old.release();
    expect(JSON.parse(await readFile(stackFile, 'utf8'))).toEqual({ pid: other });
    expect(await readFile(devStackLockFile(stackFile), 'utf8')).toBe(`${other}\n`);
  });
});

describe('readyHint', () => {
  it('says where place-order is, what to try and how to get a token', () => {
    const hint = readyHint('http://127.0.0.1:4321');
    expect(hint).toContain('place-order at http://127.0.0.1:4321');
    expect(hint).toContain('pnpm demo');
    expect(hint).toContain('pnpm --silent run token cust-1');
    expect(hint.split('\n').every((line) => line.startsWith('local-stack | '))).toBe(true);
    expect(readyHint(undefined)).toContain('place-order is not built');
  });
});
