import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (missing binary, bad cwd). */
  error?: Error;
}

export interface SpawnManagedOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Receives the child's stdout; its output is also kept as a tail for error messages. */
  stdout?: Writable;
  stderr?: Writable;
  /** Written before every line passed to stdout/stderr, so several children stay apart. */
  linePrefix?: string;
  tailChars?: number;
}

export interface ManagedProcess {
  pid: number | undefined;
  /** Resolves (never rejects) once the process is gone and its output is read. */
  exited: Promise<ProcessExit>;
  hasExited(): boolean;
  /** The last output lines, stdout and stderr interleaved. */
  tail(): string;
  /** Sends `signal`, then SIGKILL if the process is still there after `timeoutMs`. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<ProcessExit>;
}

/**
 * Spawns a long-running child that we own by PID: no shell or npx in between, so the signal we
 * send reaches the server itself. The child stays in our process group on purpose: a Ctrl-C
 * in the terminal then reaches it too, so an interrupted jest run (which runs no teardown)
 * does not leave servers behind.
 */
export function spawnManaged(
  command: string,
  args: readonly string[],
  options: SpawnManagedOptions,
): ManagedProcess {
  const tailChars = options.tailChars ?? 4_000;
  let tail = '';
  const child = spawn(command, args, {
    env: options.env,
    cwd: options.cwd,
    uid: options.uid,
    gid: options.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  const forward = (sink: Writable | undefined) => {
    let partial = '';
    return (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-tailChars);
      if (!sink) return;
      if (!options.linePrefix) {
        sink.write(text);
        return;
      }
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) sink.write(`${options.linePrefix}${line}\n`);
    };
  };
  // Always read both pipes: a child whose pipe buffer fills up blocks on its next write.
  child.stdout.on('data', forward(options.stdout));
  child.stderr.on('data', forward(options.stderr));

  let done = false;
  const exited = new Promise<ProcessExit>((resolve) => {
    let exit: ProcessExit | undefined;
    const finish = () => {
      done = true;
      resolve(exit ?? { code: null, signal: null });
    };
    child.on('error', (error) => {
      // 'error' without a pid means the spawn itself failed, and no 'exit' follows.
      if (child.pid === undefined) {
        exit = { code: null, signal: null, error };
        finish();
      }
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // 'close' follows once the pipes are drained; a grandchild holding them open must not
      // keep us waiting forever.
      setTimeout(finish, 500).unref();
    });
    child.once('close', () => {
      if (exit) finish();
    });
  });

  const stop = async (signal: NodeJS.Signals, timeoutMs: number): Promise<ProcessExit> => {
    if (done || child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    pid: child.pid,
    exited,
    hasExited: () => done || child.exitCode !== null || child.signalCode !== null,
    tail: () => tail,
    stop,
  };
}

export function describeExit(exit: ProcessExit): string {
  if (exit.error) return `could not start: ${exit.error.message}`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
