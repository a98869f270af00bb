import { dirname, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { freePort } from './free-port';
import { type ProcessExit, spawnManaged } from './spawn-managed';
import { portAccepts, waitForReady } from './wait-for-ready';

type SignatureType = 'http' | 'cloudevent';

export interface FunctionProcessOptions {
  name: string;
  /** The function's workspace: its package.json `main` is what functions-framework loads. */
  dir: string;
  entryPoint: string;
  signatureType: SignatureType;
  port?: number;
  /** The whole environment of the function process (nothing is inherited). */
  env: NodeJS.ProcessEnv;
  /** Where the function's stdout and stderr go; default process.stdout and process.stderr. */
  stdout?: Writable;
  stderr?: Writable;
  /** Written before each output line, e.g. `place-order | `. */
  linePrefix?: string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface FunctionProcess {
  name: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  pid: number | undefined;
  /** Resolves when the process ends, whoever ended it. */
  exited: Promise<ProcessExit>;
  stop(): Promise<void>;
}

/** Built beside this module's own output (tests run this module from its source). */
const loopbackHost = resolve(__dirname, '..', 'dist', 'loopback-function-host.js');

/**
 * Serves one function with functions-framework, as Cloud Run functions does, on 127.0.0.1
 * only (see loopback-function-host.ts): run by this Node (never npx, whose child outlives a
 * kill), with the framework resolved from the function's workspace so each function gets
 * the framework it declares.
 */
export async function startFunction(options: FunctionProcessOptions): Promise<FunctionProcess> {
  // The package exports no ./package.json; its modules sit beside its entry module.
  const frameworkIndex = require.resolve('@google-cloud/functions-framework', {
    paths: [options.dir],
  });
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawnManaged(
    process.execPath,
    [
      loopbackHost,
      dirname(frameworkIndex),
      `--target=${options.entryPoint}`,
      `--signature-type=${options.signatureType}`,
      `--source=${options.dir}`,
      `--port=${port}`,
    ],
    {
      env: { ...options.env, PORT: String(port) },
      cwd: options.dir,
      stdout: options.stdout ?? process.stdout,
      stderr: options.stderr ?? process.stderr,
      linePrefix: options.linePrefix,
    },
  );
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= child.stop('SIGTERM', stopTimeoutMs).then(() => {});
    return stopping;
  };
  try {
    // functions-framework listens only once the function is loaded. A request would not do:
    // a cloudevent function's middleware fails on any request without a body.
    await waitForReady(() => portAccepts(port), {
      what: `function ${options.name}`,
      process: child,
      timeoutMs: options.startTimeoutMs ?? 30_000,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { name: options.name, url, port, pid: child.pid, exited: child.exited, stop };
}
