import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { lineSink } from './line-sink';
import type { ProcessExit } from './spawn-managed';
import { type SupervisedFunction, superviseFunction } from './supervised-function';
import { isProcessAlive } from './test-harness';
import { waiterShowing } from './wait-for';

const discard = lineSink();

const echo = {
  name: 'echo-http',
  dir: join(__dirname, 'fixtures', 'echo-http'),
  entryPoint: 'echo',
  signatureType: 'http' as const,
  env: { PATH: process.env.PATH },
  stdout: discard,
  stderr: discard,
};

const waitFor = waiterShowing([], 50);

async function killAndAwaitRestart(fn: SupervisedFunction) {
  const pid = fn.pid()!;
  const restarts = fn.restarts();
  process.kill(pid, 'SIGKILL');
  await waitFor(
    'the killed function to be restarted',
    async () => fn.restarts() > restarts,
    20_000,
  );
  expect(fn.restarts()).toBe(restarts + 1);
  expect(fn.pid()).not.toBe(pid);
  expect(isProcessAlive(pid)).toBe(false);
}

describe('superviseFunction', () => {
  it('starts a killed function again on the same port, and says so', async () => {
    const log: string[] = [];
    const exits: ProcessExit[] = [];
    const fn = await superviseFunction(echo, {
      log: (line) => log.push(line),
      onExit: (exit) => exits.push(exit),
    });
    let lastPid: number | undefined;
    try {
      await killAndAwaitRestart(fn);
      await killAndAwaitRestart(fn);
      const response = await fetch(`${fn.url}/again`);
      expect(await response.json()).toMatchObject({ path: '/again' });
      expect(exits).toEqual([
        { code: null, signal: 'SIGKILL' },
        { code: null, signal: 'SIGKILL' },
      ]);
      // Killed from outside: replaced at once, as Cloud Run starts a new instance.
      expect(log.join('\n')).toMatch(
        /function echo-http was killed by SIGKILL; restarting\nfunction echo-http restarted \(pid \d+\)\nfunction echo-http was killed by SIGKILL; restarting\n/,
      );
      lastPid = fn.pid();
      expect(isProcessAlive(lastPid!)).toBe(true);
    } finally {
      await fn.stop();
    }
    // Stopped: the process it ran last is gone, and none was started in its place.
    expect(fn.pid()).toBe(lastPid);
    expect(isProcessAlive(lastPid!)).toBe(false);
    expect(fn.restarts()).toBe(2);
  }, 60_000);

  it('backs off a function that keeps dying by itself, and stops promptly while waiting', async () => {
    const log: string[] = [];
    const fn = await superviseFunction(
      { ...echo, env: { ...echo.env, EXIT_AFTER_MS: '300' } },
      { log: (line) => log.push(line) },
    );
    await waitFor('two restarts', async () => fn.restarts() >= 2, 30_000);
    expect(log.join('\n')).toMatch(
      /exited with code 3; restarting in 250 ms\n.*restarted.*\n.*exited with code 3; restarting in 500 ms/,
    );
    // Dead again, and waiting out a back-off of 1 s or more.
    await waitFor('the third death', async () => fn.pid() === undefined, 30_000);
    const started = Date.now();
    await fn.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    const restarts = fn.restarts();
    // Waiting for nothing to happen: past the back-off it was in, a restart that stop()
    // failed to cancel would have begun. An absence has no condition to await.
    const backoffMs = Number(/restarting in (\d+) ms$/.exec(log.at(-1) ?? '')?.[1]);
    expect(backoffMs).toBeGreaterThanOrEqual(1_000);
    const logged = log.length;
    await sleep(backoffMs + 500);
    expect(fn.restarts()).toBe(restarts);
    expect(log.slice(logged)).toEqual([]);
    expect(fn.pid()).toBeUndefined();
  }, 60_000);

  it('leaves a dead function dead when restarts are off', async () => {
    const exits: ProcessExit[] = [];
    const log: string[] = [];
    const fn = await superviseFunction(echo, {
      log: (line) => log.push(line),
      restart: false,
      onExit: (exit) => exits.push(exit),
    });
    process.kill(fn.pid()!, 'SIGKILL');
    await waitFor('the exit to be seen', async () => exits.length > 0, 20_000);
    // The supervisor decides on a restart as it sees the exit, and says so when it restarts
    // (see the first test): nothing said, nothing restarted.
    expect(exits).toEqual([{ code: null, signal: 'SIGKILL' }]);
    expect(log).toEqual([]);
    expect(fn.pid()).toBeUndefined();
    expect(fn.restarts()).toBe(0);
    await fn.stop();
  }, 30_000);
});
