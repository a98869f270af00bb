import { request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeExit, type ManagedProcess } from './spawn-managed';

export interface WaitForReadyOptions {
  /** Names the server in error messages. */
  what: string;
  /** The server process: if it exits first, waiting stops with its output. */
  process?: ManagedProcess;
  /** Output of `process` that means it failed even though it keeps running. */
  fatalOutput?: RegExp;
  timeoutMs: number;
  intervalMs?: number;
}

/** Polls `probe` until it answers true; fails fast when the process dies meanwhile. */
export async function waitForReady(
  probe: () => Promise<boolean>,
  options: WaitForReadyOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.process?.hasExited()) {
      const exit = await options.process.exited;
      throw new Error(
        `${options.what} ${describeExit(exit)} before it was ready:\n${options.process.tail()}`,
      );
    }
    if (options.process && options.fatalOutput?.test(options.process.tail())) {
      throw new Error(`${options.what} failed to start:\n${options.process.tail()}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const output = options.process ? `:\n${options.process.tail()}` : '';
      throw new Error(`${options.what} was not ready after ${options.timeoutMs} ms${output}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/**
 * True once anything answers HTTP at `url`, whatever the status. A fresh connection each
 * time (no keep-alive agent) so no idle socket outlives the check.
 */
export function httpAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

/** True once something accepts a TCP connection on `port` of 127.0.0.1. */
export function portAccepts(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => socket.destroy());
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}
