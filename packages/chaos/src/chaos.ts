import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { devStackFile } from '@orders/local-stack';
import { stackOf, UsageError } from '@orders/platform';
import { chaosUsage, parseChaosArgs } from './chaos-args';
import { chaosJson, chaosText } from './chaos-report';
import { runChaos } from './chaos-run';

/**
 * `pnpm chaos`: a throwaway stack of its own (it never touches `pnpm dev`'s), a seeded
 * schedule of faults, then the invariants. Exit 0 with no violation, 1 with any (or when
 * the run fails), 2 on a usage error. The report goes to stdout; progress to stderr.
 */
async function main(): Promise<number> {
  let args: ReturnType<typeof parseChaosArgs>;
  try {
    args = parseChaosArgs(process.argv.slice(2), () => String(randomInt(1, 1_000_000)));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${chaosUsage}\n`);
    return 2;
  }
  // A closed stderr (the terminal or a wrapper gone) must not stop the clean-up below.
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  const log = (line: string) => process.stderr.write(`chaos | ${line}\n`);
  const logFile = join(dirname(devStackFile()), `chaos-seed-${args.seed}.log`);
  log(`seed ${args.seed}: replay this run with --seed ${args.seed}; function logs in ${logFile}`);
  const { DATABASE_URL: _database, PUBSUB_EMULATOR_HOST: _emulator, ...env } = process.env;
  // Ctrl-C stops the run and everything it started before exiting.
  const interrupted = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the stack`);
      interrupted.abort(new Error(`interrupted by ${signal}`));
    });
  }
  const report = await runChaos({
    orders: args.orders,
    seed: args.seed,
    concurrency: args.concurrency,
    rate: args.rate,
    signal: interrupted.signal,
    env,
    projectId: 'orders-chaos',
    log,
    drainTimeoutMs: args.drainTimeoutSeconds * 1000,
    logFile,
  });
  process.stdout.write(args.json ? `${chaosJson(report)}\n` : chaosText(report));
  return report.violations.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof Error && /^interrupted by/.test(error.message)) process.exit(130);
    process.stderr.write(`chaos | failed: ${stackOf(error)}\n`);
    process.exit(1);
  },
);
