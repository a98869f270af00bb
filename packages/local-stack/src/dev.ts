import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stackOf } from '@orders/platform';
import { alreadyRunning, claimDevStack, readyHint, writeDevStackFile } from './dev-stack-file';
import { freshLocalWarehouse } from './fresh-warehouse';
import { devStackFile, startLocalStack } from './local-stack';

/**
 * `pnpm dev`: the whole stack on this machine until Ctrl-C. stdout carries exactly one line,
 * the JSON that says where everything is, so scripts can wait for it and parse it; every
 * log (ours and the functions') goes to stderr.
 */
async function main(): Promise<void> {
  const env = process.env;
  const readyFile = devStackFile(env);
  const log = (line: string) => process.stderr.write(`local-stack | ${line}\n`);
  // Registered before starting: a SIGTERM during startup must not kill us before we can stop
  // what has started (a Ctrl-C reaches the servers too, they share our process group).
  let stopRequested: NodeJS.Signals | undefined;
  let shutdown = (signal: NodeJS.Signals) => {
    stopRequested = signal;
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, (received) => shutdown(received));
  }

  // One `pnpm dev` per checkout: a second one would share (and wipe) the first one's
  // warehouse and stack file. It says where the running one is, and touches nothing.
  const claim = await claimDevStack(readyFile);
  if ('pid' in claim) {
    process.stderr.write(`${alreadyRunning(claim)}\n`);
    process.exit(1);
  }

  // A throwaway database gets a fresh warehouse too, so that analytics describe this run's
  // orders only. With your own DATABASE_URL, the warehouse you had is kept.
  const warehouse = await freshLocalWarehouse(env);
  if (warehouse) log(`fresh local warehouse at ${warehouse}`);

  // What `pnpm trace` reads: this run's function logs and, with OTEL_TRACES=on, its spans.
  const functionLogFile = join(dirname(readyFile), 'functions.log');
  const spansFile = join(dirname(readyFile), 'spans.jsonl');
  await mkdir(dirname(readyFile), { recursive: true, mode: 0o700 });
  await Promise.all([rm(functionLogFile, { force: true }), rm(spansFile, { force: true })]);
  const localSpans =
    env.OTEL_TRACES?.trim().toLowerCase() === 'on' && !env.OTEL_TRACES_FILE
      ? { OTEL_TRACES_FILE: spansFile }
      : {};

  const stack = await startLocalStack({
    projectId: env.GOOGLE_CLOUD_PROJECT || 'orders-local',
    functions: 'all-existing',
    durable: true,
    env: { ...env, ...localSpans },
    log,
    functionStdout: process.stderr,
    functionStderr: process.stderr,
    functionLogFile,
  }).catch(async (error: unknown) => {
    await claim.release();
    throw error;
  });

  shutdown = (signal) => {
    log(`${signal}: stopping`);
    shutdown = () => {};
    Promise.all([stack.stop(), claim.release()]).then(
      () => process.exit(0),
      (error: unknown) => {
        log(`stop failed: ${stackOf(error)}`);
        process.exit(1);
      },
    );
  };
  if (stopRequested) {
    shutdown(stopRequested);
    return;
  }

  const ready = await writeDevStackFile(stack, readyFile);
  process.stdout.write(`${ready}\n`);
  process.stderr.write(`${readyHint(stack.functions['place-order'])}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`local-stack | failed to start: ${stackOf(error)}\n`);
  process.exit(1);
});
