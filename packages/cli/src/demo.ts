import { randomBytes, randomInt } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  describeWarehouse,
  openWarehouse,
  type WarehouseConfig,
  warehouseConfigSchema,
} from '@orders/analytics';
import { createDb } from '@orders/db';
import { topics as declaredTopics } from '@orders/events';
import {
  alreadyRunning,
  claimDevStack,
  type DevStackClaim,
  freshLocalWarehouse,
  type LocalStack,
  startLocalStack,
} from '@orders/local-stack';
import { messageOf, sagaOverdueSettingsSchema, UsageError } from '@orders/platform';
import { ConfigError, parseConfig } from '@orders/runtime';
import { analyticsReport } from './analytics-report';
import { runCommand } from './command-line';
import { createPubSubDeadLetterQueue } from './dead-letter-queue';
import { type DemoArgs, demoUsage, parseDemoArgs } from './demo-args';
import { formatDemoSummary } from './demo-report';
import { runDemo } from './demo-run';
import { summaryJson } from './demo-summary';
import { createHttpIntakeClient, IntakeUnreachableError, type TokenSource } from './intake-client';
import type { ShortStock } from './order-mix';
import { createProgress } from './progress';
import { formatSagaHealth } from './saga-format';
import { sagaHealth } from './saga-listing';
import {
  type CliConfig,
  cliConfig,
  describePubSub,
  devStackPath,
  devTokens,
  locateStack,
  readDevStack,
} from './stack-location';

/** The functions without which orders never become final. */
const pipeline = ['place-order', 'process-order', 'payment-handler'];
/** How long the analytics part waits for the loader to catch up with the run. */
const analyticsWaitMs = 30_000;

type Say = (text: string) => void;

interface Target {
  placeOrderUrl: string;
  /** Each customer's token for the intake. */
  tokens: TokenSource;
  pubsub: { projectId: string; emulatorHost: string | undefined };
  /** The functions that run, when known (from the stack file or the stack started here). */
  running: string[] | undefined;
  /** The stack's database, when known: its sagas are counted (parked, overdue). */
  databaseUrl: string | undefined;
  /** What the warehouse holds, for the analytics' heading. */
  warehouseHolds: string;
}

/**
 * `pnpm demo`: a realistic mix of orders through the running stack, or through one it
 * starts (and stops) itself, then a summary and two analytics queries. stdout holds only
 * the result (with --json, one JSON object); progress and diagnostics go to stderr.
 * Exit codes: 0 the run completed (pending orders included), 1 the stack could not be
 * reached or failed, 2 usage, 130 interrupted.
 */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const say: Say = (text) => process.stderr.write(`demo: ${text}\n`);
  let args: DemoArgs;
  let config: CliConfig;
  let warehouseConfig: Omit<WarehouseConfig, 'GOOGLE_CLOUD_PROJECT'>;
  let overdueGraceSeconds: number;
  try {
    args = parseDemoArgs(argv);
    config = cliConfig(env);
    warehouseConfig = parseConfig(warehouseConfigSchema, env);
    overdueGraceSeconds = parseConfig(sagaOverdueSettingsSchema, env).SAGA_OVERDUE_SECONDS;
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    say(`${error.message}\n\n${demoUsage}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${demoUsage}\n`);
    return 0;
  }

  // 1. Find the stack: the running dev stack, the environment's, or none.
  const path = devStackPath(config);
  const devStack = await readDevStack(path);
  const location = locateStack(config, devStack, path);
  if (location.placeOrderUrl && !location.pubsub) {
    say('PLACE_ORDER_URL needs PUBSUB_EMULATOR_HOST or GOOGLE_CLOUD_PROJECT too (the DLQs)');
    return 2;
  }
  if (location.placeOrderUrl && !location.tokens) {
    say(
      "PLACE_ORDER_URL needs a running `pnpm dev`: the demo's customers get their tokens " +
        "from its development issuer (the intake's AUTH_ISSUER must be that issuer)",
    );
    return 2;
  }

  let ownStack: LocalStack | undefined;
  /** While its own stack runs, the demo holds the checkout as `pnpm dev` does. */
  let checkout: DevStackClaim | undefined;
  let starting = false;
  let interrupted = false;
  // A signal while this process starts its own stack waits for the start to end (the
  // servers got the signal too, they share our process group), then stops what started.
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    interrupted = true;
    if (!starting) {
      (ownStack ? ownStack.stop() : Promise.resolve())
        .finally(() => checkout?.release())
        .finally(() => process.exit(130));
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, onSignal);

  try {
    // 2. With none, start one of our own.
    let target: Target;
    if (location.placeOrderUrl && location.pubsub) {
      const from = location.devStackFile ? ` (from ${location.devStackFile})` : '';
      say(`using the stack at ${location.placeOrderUrl}${from}`);
      target = {
        placeOrderUrl: location.placeOrderUrl,
        tokens: location.tokens!,
        pubsub: location.pubsub,
        running: devStack && !config.PLACE_ORDER_URL ? Object.keys(devStack.functions) : undefined,
        databaseUrl: location.databaseUrl,
        warehouseHolds: 'every order since pnpm dev started',
      };
    } else {
      starting = true;
      const logFile = join(dirname(path), 'demo-stack.log');
      const projectId = config.GOOGLE_CLOUD_PROJECT ?? 'orders-demo';
      // Its stack owns the checkout's local files (the warehouse) while it runs, as `pnpm
      // dev`'s does: a `pnpm dev` started meanwhile says so instead of wiping them, and a
      // second demo uses neither.
      const claim = await claimDevStack(path);
      if ('pid' in claim) {
        say(alreadyRunning(claim));
        return 1;
      }
      checkout = claim;
      // As with `pnpm dev`: a throwaway database gets a fresh warehouse too, so that the
      // analytics describe this run's orders only; with DATABASE_URL, both are kept.
      const fresh = await freshLocalWarehouse(env);
      if (fresh) say(`fresh local warehouse at ${fresh}`);
      ownStack = await startOwnStack(env, projectId, logFile, say).finally(() => {
        starting = false;
      });
      if (interrupted) return 130;
      target = {
        placeOrderUrl: ownStack.functions['place-order']!,
        tokens: devTokens(ownStack.auth!.signingKey),
        pubsub: { projectId: ownStack.projectId, emulatorHost: ownStack.pubsubEmulatorHost },
        running: Object.keys(ownStack.functions),
        databaseUrl: ownStack.databaseUrl,
        warehouseHolds: fresh
          ? "this run's orders: the stack it started began with a fresh warehouse"
          : 'every order the warehouse holds (DATABASE_URL is set: the warehouse was kept)',
      };
    }
    const missing = target.running && pipeline.filter((name) => !target.running!.includes(name));
    if (missing && missing.length > 0) {
      say(`not running: ${missing.join(', ')}; orders will stay pending until the timeout`);
    }

    // 3. Run, then report.
    return await demo(
      args,
      target,
      { ...warehouseConfig, GOOGLE_CLOUD_PROJECT: target.pubsub.projectId },
      say,
      overdueGraceSeconds,
    );
  } catch (error) {
    if (interrupted) return 130;
    if (error instanceof IntakeUnreachableError) {
      const stale =
        location.devStackFile && !ownStack
          ? `; if \`pnpm dev\` is not running any more, delete ${location.devStackFile}`
          : '';
      say(`cannot reach the stack: ${error.message}${stale}`);
      return 1;
    }
    throw error;
  } finally {
    if (ownStack) {
      say('stopping the stack it started');
      await ownStack.stop();
    }
    await checkout?.release();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, onSignal);
  }
}

async function demo(
  args: DemoArgs,
  target: Target,
  warehouseConfig: WarehouseConfig,
  say: Say,
  /** SAGA_OVERDUE_SECONDS, for the sagas line. */
  overdueGraceSeconds: number,
): Promise<number> {
  const seed = args.seed ?? randomInt(2 ** 32);
  say(
    `placing ${args.orders} orders (seed ${seed}: --seed ${seed} repeats this mix); ` +
      `dead letters from ${describePubSub(target.pubsub)}`,
  );
  const deadLetters = createPubSubDeadLetterQueue({
    ...target.pubsub,
    topics: Object.keys(declaredTopics),
  });
  let run: Awaited<ReturnType<typeof runDemo>>;
  try {
    run = await runDemo({
      intake: createHttpIntakeClient(target.placeOrderUrl, { tokens: target.tokens }),
      countDeadLetters: async () => (await deadLetters.list()).length,
      orders: args.orders,
      seed,
      concurrency: args.concurrency,
      timeoutMs: args.timeoutSeconds * 1000,
      runId: randomBytes(6).toString('hex'),
      progress: createProgress(process.stderr),
      onShortStock: (short) => say(describeShortStock(short)),
    });
  } finally {
    await deadLetters.close();
  }
  const { summary } = run;
  if (summary.pending > 0) {
    say(`${summary.pending} order(s) still pending after ${args.timeoutSeconds} s`);
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(summaryJson(summary))}\n`);
    return 0;
  }
  process.stdout.write(`${formatDemoSummary(summary)}\n`);
  if (target.databaseUrl) {
    // The whole stack's sagas, this run's or not: what waits for an operator.
    const db = createDb(target.databaseUrl, { maxConnections: 1 });
    try {
      const health = formatSagaHealth(await sagaHealth(db, { overdueGraceSeconds }));
      process.stdout.write(`\nsagas (the whole stack): ${health}\n`);
    } catch (error) {
      say(`sagas unavailable: ${messageOf(error)}`);
    } finally {
      await db.destroy();
    }
  }

  // Analytics over the whole warehouse, once the loader has caught up with this run.
  if (target.running && !target.running.includes('analytics-loader')) {
    say('analytics-loader is not running: no analytics');
    return 0;
  }
  const finalOrders = run.orders.flatMap((order) =>
    order.orderId && (order.state?.status === 'CONFIRMED' || order.state?.status === 'CANCELLED')
      ? [order.orderId]
      : [],
  );
  const warehouse = openWarehouse(warehouseConfig);
  try {
    const report = await analyticsReport({
      warehouse,
      orderIds: finalOrders,
      waitMs: analyticsWaitMs,
    });
    process.stdout.write(
      `\nanalytics (${describeWarehouse(warehouseConfig)}, ${target.warehouseHolds})\n\n${report.text}\n`,
    );
    if (report.notLoaded > 0 && report.notLoaded === finalOrders.length) {
      say(
        `none of this run's orders reached the warehouse in ${analyticsWaitMs / 1000} s: ` +
          'is analytics-loader running, on the same warehouse?',
      );
    } else if (report.notLoaded > 0) {
      say(`${report.notLoaded} order(s) of this run not in the warehouse yet`);
    }
  } catch (error) {
    say(`analytics unavailable: ${messageOf(error)}`);
  } finally {
    await warehouse.close();
  }
  return 0;
}

/** Which products the catalog holds too few of for this mix, and what that does to the run. */
function describeShortStock(short: readonly ShortStock[]): string {
  const products = short
    .map(({ sku, stock, wanted }) => `${sku} has ${stock}, the mix asks for ${wanted}`)
    .join('; ');
  return (
    `the catalog is short for this load (${products}): orders past the stock will be ` +
    'cancelled out_of_stock (restart pnpm dev for a fresh catalog)'
  );
}

/** A stack of its own, with every built function; their logs go to a file, not the terminal. */
async function startOwnStack(
  env: NodeJS.ProcessEnv,
  projectId: string,
  logFile: string,
  say: Say,
): Promise<LocalStack> {
  await mkdir(dirname(logFile), { recursive: true });
  const functionLog = createWriteStream(logFile, { flags: 'w' });
  say(`no running stack: starting one (function logs in ${logFile})`);
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      projectId,
      functions: 'all-existing',
      durable: false,
      env,
      log: say,
      functionStdout: functionLog,
      functionStderr: functionLog,
    });
  } catch (error) {
    functionLog.end();
    throw error;
  }
  if (!stack.functions['place-order']) {
    await stack.stop();
    functionLog.end();
    throw new Error('place-order is not built: run `pnpm build` (pnpm demo does)');
  }
  if (!stack.auth) {
    await stack.stop();
    functionLog.end();
    throw new Error('AUTH_ISSUER is set: unset it, the demo signs its tokens with its own issuer');
  }
  return {
    ...stack,
    stop: async () => {
      await stack.stop();
      await new Promise<void>((resolve) => functionLog.end(resolve));
    },
  };
}

runCommand('demo', main);
