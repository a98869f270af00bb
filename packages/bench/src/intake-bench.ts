import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedProducts } from '@orders/db';
import { functions as declared } from '@orders/deployment';
import {
  createTopology,
  type FunctionProcess,
  lineSink,
  queryOnce,
  startDevIssuer,
  startFunction,
  startPostgres,
  startPubSubEmulator,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { percentile } from '@orders/platform';
import autocannon from 'autocannon';
import { type BenchContext, type Measure, measure } from './measure';
import { cpuPer, cpuTimes } from './process-cpu';

/** place-order's pool in production (deploy sets 5) is smaller; 10 is its default. */
const poolSize = 10;
const repoRoot = join(__dirname, '..', '..', '..');
const fixtures = join(__dirname, '..', 'src', 'fixtures');

interface Load {
  /** 2xx responses per second of the measured window. */
  rate: number;
  ok: number;
  failed: number;
  p50: number;
  p99: number;
}

/**
 * Measure 1, intake: `POST /orders` on place-order (built, served by functions-framework,
 * on a durable PostgreSQL) under `connections` keep-alive connections, each request a valid
 * order with its own Idempotency-Key; beside a bare functions-framework handler doing one
 * INSERT per request on the same server with the same pool size.
 */
/** Distinct customers of the load, each with its token. */
const customers = 1000;

export async function benchIntake(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const connections = quick ? 4 : 32;
  const seconds = quick ? 2 : 10;
  const warmupSeconds = quick ? 0 : 2;
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const postgres = await startPostgres({ durable: true, env, log });
    stops.push(() => postgres.stop());
    const emulator = await startPubSubEmulator({ env, log });
    stops.push(() => emulator.stop());
    const database = await testDatabase('bench_intake', { DATABASE_URL: postgres.url });
    stops.push(() => database.drop());
    await database.db.destroy();
    await queryOnce(
      database.url,
      `create table bench_insert_one (
         id uuid primary key,
         customer_id text not null,
         currency text not null,
         total_minor bigint not null,
         status text not null,
         correlation_id uuid not null,
         created_at timestamptz not null default now(),
         updated_at timestamptz not null default now())`,
    );
    const projectId = testProjectId('bench-intake');
    await createTopology({ emulatorHost: emulator.host, projectId, pushEndpoints: {} });
    // Every request carries its customer's token, as in production: verifying it is part of
    // intake's cost (the baseline ignores it).
    const issuer = await startDevIssuer({ audience: projectId });
    stops.push(() => issuer.stop());
    const tokens = await Promise.all(
      Array.from({ length: customers }, (_, n) => issuer.token(`bench-${n}`)),
    );
    const functionEnv = {
      PATH: env.PATH,
      DATABASE_URL: database.url,
      DB_POOL_SIZE: String(poolSize),
      // Opt-in, for profiling the functions under this load (e.g. `--cpu-prof
      // --cpu-prof-dir=/tmp/prof`): Node options of both functions, baseline and place-order.
      ...(env.BENCH_FUNCTION_NODE_OPTIONS ? { NODE_OPTIONS: env.BENCH_FUNCTION_NODE_OPTIONS } : {}),
    };

    const run = async (
      fn: FunctionProcess,
      what: string,
      beforeMeasuring?: () => Promise<void>,
    ): Promise<Load & { cpuPerRequest: number; cpuSplit: string }> => {
      // The first request loads what the function loads lazily (its Pub/Sub client): wait for it.
      await load(fn.url, tokens, 1, 0, 1);
      if (warmupSeconds > 0) await load(fn.url, tokens, connections, warmupSeconds);
      await beforeMeasuring?.();
      log(`intake: ${what}, ${connections} connections for ${seconds} s`);
      const processes = {
        function: fn.pid,
        postgres: postgres.pid,
        'pubsub-emulator': emulator.pid,
        'load generator': process.pid,
      };
      const cpuBefore = await cpuTimes(processes);
      const result = await load(fn.url, tokens, connections, seconds);
      const cpuAfter = await cpuTimes(processes);
      const requests = Math.max(1, result.ok);
      const cpuPerRequest = ((cpuAfter.function ?? 0) - (cpuBefore.function ?? 0)) / requests;
      const cpuSplit = cpuPer(cpuBefore, cpuAfter, requests);
      log(
        `intake: ${what}: ${result.rate.toFixed(0)}/s, p50 ${result.p50.toFixed(1)} ms, ` +
          `p99 ${result.p99.toFixed(1)} ms, ${result.failed} failed, ` +
          `CPU ms per request: ${cpuSplit}`,
      );
      return { ...result, cpuPerRequest, cpuSplit };
    };

    const placeOrderDir = join(repoRoot, 'functions', 'place-order');
    const frameworks = [fixtures, placeOrderDir].map(frameworkVersion);
    if (frameworks[0] !== frameworks[1]) {
      throw new Error(
        `intake: the baseline would run on functions-framework ${frameworks[0]}, place-order on ${frameworks[1]}`,
      );
    }

    const baselineFn = await startFunction({
      name: 'insert-one',
      dir: join(fixtures, 'insert-one'),
      entryPoint: 'insertOne',
      signatureType: 'http',
      env: functionEnv,
      // Its stdout (a banner, logs at warn) is dropped; its stderr still shows errors.
      stdout: lineSink(),
      linePrefix: 'insert-one | ',
    });
    stops.push(() => baselineFn.stop());
    const baseline = await run(baselineFn, 'baseline (one INSERT per request)');
    await baselineFn.stop();

    const transactionsBefore = await transactionCount(database.url);
    const placeOrderFn = await startFunction({
      name: 'place-order',
      dir: placeOrderDir,
      entryPoint: declared['place-order'].entryPoint,
      signatureType: 'http',
      env: {
        ...functionEnv,
        PUBSUB_EMULATOR_HOST: emulator.host,
        GOOGLE_CLOUD_PROJECT: projectId,
        LOG_LEVEL: 'warn',
        AUTH_ISSUER: issuer.issuer,
        AUTH_AUDIENCE: issuer.audience,
        AUTH_JWKS_URL: issuer.jwksUrl,
        // Each customer places dozens of orders that no saga settles here: not what is measured.
        MAX_OPEN_ORDERS_PER_CUSTOMER: '1000000000',
      },
      // Its stdout (a banner, logs at warn) is dropped; its stderr still shows errors.
      stdout: lineSink(),
      linePrefix: 'place-order | ',
    });
    stops.push(() => placeOrderFn.stop());
    let ordersBefore = 0;
    const intake = await run(placeOrderFn, 'place-order', async () => {
      ordersBefore = await settledOrderCount(database.url);
    });
    const committed = (await settledOrderCount(database.url)) - ordersBefore;
    await placeOrderFn.stop();
    // Each of place-order's statements is a transaction of its own: their count per order,
    // over its whole run (warm-up included), once its connections closed (their backends
    // report their counts as they exit).
    const transactions = (await transactionCount(database.url)) - transactionsBefore;
    const transactionsPerOrder = transactions / (await settledOrderCount(database.url));
    log(`intake: place-order: ${intake.ok} accepted, ${committed} committed`);
    // Requests still in flight when the load stops are not counted as answered, but commit.
    if (committed < intake.ok || committed > intake.ok + connections) {
      throw new Error(`place-order accepted ${intake.ok} orders but committed ${committed}`);
    }
    const shape = `${connections} connections, ${seconds} s, pool ${poolSize}`;
    const failures = (load: Load) => (load.failed > 0 ? `, ${load.failed} not 2xx` : '');
    return [
      measure(
        'intake-throughput',
        'requests/s',
        intake.rate,
        baseline.rate,
        `${shape}; ${intake.ok} accepted, ${committed} committed (the rest in flight at the end)${failures(intake)}; ` +
          `baseline: one INSERT per request${failures(baseline)}`,
      ),
      measure('intake-p50', 'ms', intake.p50, baseline.p50, 'baseline: its p50'),
      measure('intake-p99', 'ms', intake.p99, baseline.p99, 'baseline: its p99'),
      measure(
        'intake-cpu-per-request',
        'ms',
        intake.cpuPerRequest,
        baseline.cpuPerRequest,
        `the function process's CPU time (user + system) per 2xx answer; baseline: its own; CPU ms per request of each process: ${intake.cpuSplit}; baseline: ${baseline.cpuSplit}; ` +
          `place-order's statements per order: ${transactionsPerOrder.toFixed(2)} (transactions, pg_stat_database)`,
      ),
    ];
  } finally {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => log(`intake: cleanup failed: ${String(error)}`));
    }
  }
}

/**
 * Drives `POST /orders` for `seconds`; every request a different valid order (customer, sku,
 * quantity) with its own Idempotency-Key. Latency is kept per response, not rounded to
 * autocannon's whole milliseconds.
 */
async function load(
  url: string,
  /** Customer n's token at index n. */
  tokens: readonly string[],
  connections: number,
  seconds: number,
  amount?: number,
): Promise<Load> {
  const skus = seedProducts.filter((product) => product.stock > 0).map((product) => product.sku);
  const run = `${process.pid}-${Date.now().toString(36)}`;
  let sent = 0;
  const latencies: number[] = [];
  const options: autocannon.Options = {
    url,
    connections,
    ...(amount ? { amount } : { duration: seconds }),
    timeout: 60,
    requests: [
      {
        method: 'POST',
        path: '/orders',
        setupRequest: (request) => {
          const n = sent++;
          return {
            ...request,
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${tokens[n % customers]}`,
              'idempotency-key': `${run}-${n}`,
            },
            body: JSON.stringify({
              customerId: `bench-${n % customers}`,
              currency: 'EUR',
              items: [{ sku: skus[n % skus.length], quantity: 1 + (n % 3) }],
            }),
          };
        },
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, result) =>
      error ? reject(error) : resolve(result),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
  });
  if (result['2xx'] === 0) {
    throw new Error(
      `intake: no 2xx answer from ${url} in ${seconds} s (${result.non2xx} others, ${result.errors} errors)`,
    );
  }
  return {
    rate: result['2xx'] / result.duration,
    ok: result['2xx'],
    failed: result.non2xx + result.errors,
    p50: percentile(latencies, 0.5) ?? Number.NaN,
    p99: percentile(latencies, 0.99) ?? Number.NaN,
  };
}

/**
 * The number of orders once requests still in flight when a load stopped have finished: the
 * load generator stops waiting for them, place-order does not.
 */
async function settledOrderCount(url: string): Promise<number> {
  const count = async () =>
    (await queryOnce<{ n: number }>(url, 'select count(*)::int as n from orders')).rows[0]!.n;
  let last = await count();
  for (;;) {
    await sleep(500);
    const now = await count();
    if (now === last) return now;
    last = now;
  }
}

/** Transactions committed or rolled back in the database of `url`, as its statistics count them. */
async function transactionCount(url: string): Promise<number> {
  const { rows } = await queryOnce<{ n: string }>(
    url,
    `select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()`,
  );
  return Number(rows[0]!.n);
}

/** The version of functions-framework that serves a function in `dir`. */
function frameworkVersion(dir: string): string {
  // The package exports no ./package.json; its main module is build/src/index.js.
  const main = require.resolve('@google-cloud/functions-framework', { paths: [dir] });
  const manifest = join(dirname(main), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
