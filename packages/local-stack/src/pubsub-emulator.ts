import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { freePort } from './free-port';
import { isExecutable } from './is-executable';
import { spawnManaged } from './spawn-managed';
import { httpAnswers, waitForReady } from './wait-for-ready';

export interface PubSubEmulatorOptions {
  /** Read for PUBSUB_EMULATOR_HOST, CLOUDSDK_ROOT_DIR, PATH and JAVA_HOME. */
  env?: NodeJS.ProcessEnv;
  /** The Google Cloud SDK root; found from env and the usual places when not given. */
  sdkRoot?: string;
  port?: number;
  /** Lifecycle lines (starting with its pid, ready). */
  log?: (line: string) => void;
  /** The emulator's own log (one line per push, chatty); kept for error messages either way. */
  output?: Writable;
  startTimeoutMs?: number;
}

export interface PubSubEmulator {
  /** `127.0.0.1:PORT`, the form PUBSUB_EMULATOR_HOST takes. */
  host: string;
  /** The JVM, when this handle started one. */
  pid?: number;
  stop(): Promise<void>;
}

const run = promisify(execFile);

const emulatorScript = (sdkRoot: string) =>
  join(sdkRoot, 'platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');

/**
 * The Pub/Sub emulator: the one at env PUBSUB_EMULATOR_HOST if set (not ours to stop), else
 * one started from the Cloud SDK's own launcher. We run the launcher rather than
 * `gcloud beta emulators pubsub start` because it execs java, so the PID we hold is the
 * JVM itself and a signal to it really stops the emulator.
 */
export async function startPubSubEmulator(
  options: PubSubEmulatorOptions = {},
): Promise<PubSubEmulator> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  if (env.PUBSUB_EMULATOR_HOST) {
    const host = env.PUBSUB_EMULATOR_HOST;
    await waitForReady(() => httpAnswers(`http://${host}/`), {
      what: `the Pub/Sub emulator at PUBSUB_EMULATOR_HOST=${host}`,
      timeoutMs,
    });
    log(`Pub/Sub emulator at PUBSUB_EMULATOR_HOST=${host}`);
    return { host, stop: async () => {} };
  }

  const sdkRoot = options.sdkRoot ?? (await findCloudSdk(env));
  if (!sdkRoot) {
    throw new Error(
      'The Pub/Sub emulator needs the Google Cloud SDK with its pubsub-emulator component ' +
        '(set CLOUDSDK_ROOT_DIR, or PUBSUB_EMULATOR_HOST to use a running emulator)',
    );
  }
  const script = emulatorScript(sdkRoot);
  if (!(await isExecutable(script))) {
    throw new Error(`No Pub/Sub emulator at ${script}: install the pubsub-emulator component`);
  }
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const jvm = spawnManaged(script, ['--host=127.0.0.1', `--port=${port}`], {
    env,
    stdout: options.output,
    stderr: options.output,
  });
  log(`Pub/Sub emulator starting (pid ${jvm.pid}) at ${host}`);
  const stop = async () => {
    await jvm.stop('SIGTERM', 10_000);
  };
  try {
    await waitForReady(() => httpAnswers(`http://${host}/`), {
      what: 'the Pub/Sub emulator',
      process: jvm,
      // A failed bind kills the JVM's main thread, but netty's threads keep the JVM alive.
      fatalOutput: /Exception in thread "main"/,
      timeoutMs,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  log(`Pub/Sub emulator ready at ${host}`);
  let stopping: Promise<void> | undefined;
  return {
    host,
    pid: jvm.pid,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/**
 * The Cloud SDK root holding the emulator: env CLOUDSDK_ROOT_DIR, the Debian and snap-less
 * package locations, and last `gcloud info` (slow: it starts Python).
 */
async function findCloudSdk(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const candidates = [
    env.CLOUDSDK_ROOT_DIR,
    '/usr/lib/google-cloud-sdk',
    '/usr/share/google-cloud-sdk',
  ];
  for (const root of candidates) {
    if (root && (await isExecutable(emulatorScript(root)))) return root;
  }
  try {
    const { stdout } = await run('gcloud', ['info', '--format=value(installation.sdk_root)'], {
      env,
      timeout: 30_000,
    });
    const root = stdout.trim();
    if (root && (await isExecutable(emulatorScript(root)))) return root;
  } catch {
    // No gcloud on PATH: the caller reports the emulator as missing.
  }
  return undefined;
}
