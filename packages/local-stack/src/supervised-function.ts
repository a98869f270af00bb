import { setTimeout as sleep } from 'node:timers/promises';
import { messageOf } from '@orders/platform';
import { freePort } from './free-port';
import {
  type FunctionProcess,
  type FunctionProcessOptions,
  startFunction,
} from './function-process';
import { describeExit, type ProcessExit } from './spawn-managed';

export interface SupervisedFunction {
  name: string;
  /** Stays the same across restarts: push subscriptions keep pointing at it. */
  url: string;
  port: number;
  /** The PID of the current process; undefined while it is being restarted. */
  pid(): number | undefined;
  /** How many times the process was started again after it died. */
  restarts(): number;
  /** Stops the current process and restarts no more. */
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  /** Lifecycle lines: a death and its restart. */
  log: (line: string) => void;
  /** Called on every death while not stopping. */
  onExit?: (exit: ProcessExit) => void;
  /** Restart a dead process (the default), as Cloud Run starts a new instance. */
  restart?: boolean;
}

/** A process that exits by itself sooner than this after being ready is crash-looping. */
const healthyAfterMs = 5_000;
const maxBackoffMs = 10_000;

/**
 * Serves a function and keeps it served: when its process dies (a crash, a SIGKILL), a
 * new one is started on the same port, after a back-off that doubles while it keeps dying
 * young. The first start must succeed; a restart that fails is tried again.
 */
export async function superviseFunction(
  options: FunctionProcessOptions,
  { log, onExit, restart = true }: SuperviseOptions,
): Promise<SupervisedFunction> {
  const port = options.port ?? (await freePort());
  const spec = { ...options, port };
  let current: FunctionProcess | undefined = await startFunction(spec);
  let stopped = false;
  let restarts = 0;
  let backoffMs = 0;
  let restarting: Promise<void> = Promise.resolve();
  const stopping = new AbortController();

  const watch = (fn: FunctionProcess) => {
    const readyAt = Date.now();
    fn.exited.then((exit) => {
      if (stopped) return;
      current = undefined;
      onExit?.(exit);
      if (!restart) return;
      // A process that ends by itself soon after starting is crash-looping: back off. One
      // killed from outside (a chaos run, the OOM killer) is replaced at once.
      const crashLooping = exit.signal === null && Date.now() - readyAt < healthyAfterMs;
      backoffMs = crashLooping ? Math.min(maxBackoffMs, backoffMs * 2 || 250) : 0;
      log(
        `function ${options.name} ${describeExit(exit)}; restarting${backoffMs ? ` in ${backoffMs} ms` : ''}`,
      );
      restarting = startAgain();
    });
  };

  const startAgain = async () => {
    for (;;) {
      if (backoffMs > 0)
        await sleep(backoffMs, undefined, { signal: stopping.signal }).catch(() => {});
      if (stopped) return;
      try {
        const fn = await startFunction(spec);
        if (stopped) {
          await fn.stop();
          return;
        }
        current = fn;
        restarts += 1;
        log(`function ${options.name} restarted (pid ${fn.pid})`);
        watch(fn);
        return;
      } catch (error) {
        backoffMs = Math.min(maxBackoffMs, backoffMs * 2 || 250);
        log(`function ${options.name} failed to restart: ${messageOf(error)}`);
      }
    }
  };

  watch(current);
  return {
    name: options.name,
    url: `http://127.0.0.1:${port}`,
    port,
    pid: () => current?.pid,
    restarts: () => restarts,
    async stop() {
      stopped = true;
      stopping.abort();
      await restarting;
      await current?.stop();
    },
  };
}
