import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import type { ProcessExit } from './spawn-managed';
import { type SupervisedFunction, superviseFunction } from './supervised-function';
import { isProcessAlive } from './test-harness';

const discard = new Writable({
  write(_chunk, _encoding, done) {
    done();
  },
});

const echo = {
  name: 'echo-http',
  dir: join(__dirname, 'fixtures', 'echo-http'),
  entryPoint: 'echo',
  signatureType: 'http' as const,
  env: { PATH: process.env.PATH },
  stdout: discard,
  stderr: discard,
};

async function killAndAwaitRestart(fn: SupervisedFunction) {
  const pid = fn.pid()!;
  const restarts = fn.restarts();
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 20_000;
  while (fn.restarts() === restarts && Date.now() < deadline) await sleep(50);
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
    try {
      await killAndAwaitRestart(fn);
      // Died young twice: the second restart waits (a crash loop must not spin).
      await killAndAwaitRestart(fn);
      const response = await fetch(`${fn.url}/again`);
      expect(await response.json()).toMatchObject({ path: '/again' });
      expect(exits).toEqual([
        { code: null, signal: 'SIGKILL' },
        { code: null, signal: 'SIGKILL' },
      ]);
      expect(log.join('\n')).toMatch(
        /function echo-http was killed by SIGKILL; restarting in 250 ms\n.*function echo-http restarted \(pid \d+\)\nfunction echo-http was killed by SIGKILL; restarting in 500 ms/s,
      );
    } finally {
      await fn.stop();
    }
    expect(fn.pid()).toBeDefined();
    expect(isProcessAlive(fn.pid()!)).toBe(false);
  }, 60_000);

  it('stops promptly while waiting to restart, and starts nothing afterwards', async () => {
    const fn = await superviseFunction(echo, { log: () => {} });
    await killAndAwaitRestart(fn);
    const pid = fn.pid()!;
    process.kill(pid, 'SIGKILL');
    await sleep(100);
    const started = Date.now();
    await fn.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    await sleep(1_000);
    expect(fn.restarts()).toBe(1);
    expect(fn.pid()).toBeUndefined();
  }, 60_000);

  it('leaves a dead function dead when restarts are off', async () => {
    const exits: ProcessExit[] = [];
    const fn = await superviseFunction(echo, {
      log: () => {},
      restart: false,
      onExit: (exit) => exits.push(exit),
    });
    process.kill(fn.pid()!, 'SIGKILL');
    while (exits.length === 0) await sleep(50);
    await sleep(500);
    expect(fn.pid()).toBeUndefined();
    expect(fn.restarts()).toBe(0);
    await fn.stop();
  }, 30_000);
});
