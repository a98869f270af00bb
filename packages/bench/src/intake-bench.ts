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

/** place-order's default pool (the deploy sets 4 per instance: `function-sizing.ts`). */
const poolSize = 10;
const repoRoot = join(__dirname, '..', '..', '..');
const fixtures = join(__dirname, '..', 'src', 'fixtures');

interface Load {
  /** 2xx responses per second of the measured window. */
  rate: number;
  ok: number;
  failed: number;
  /** The measured window. */
  seconds: number;
  /** Of every response, in ms. */
  latencies: number[];
  p50: number;
  p99: number;
}

/** Distinct customers of the load, each with its token. */
const customers = 1000;

/** A request rate that every intake sustains on the development machine, emulator and all. */
const pacedRate = 40;

/** One function under the load: its process and what its runs measured, round after round. */
interface Served {
  fn: FunctionProcess;
  /** Checks that every accepted order was committed (the one-INSERT baseline has none). */
  ordersTable: boolean;
  runs: Run[];
  paced: Run[];
}

interface Run extends Load {
  /** CPU ms (user + system) of each measured process over the run. */
  cpuMs: Record<string, number>;
}

/**
 * Measure 1, intake: `POST /orders` on place-order (built, served by functions-framework,
 * on a durable PostgreSQL) under `connections` keep-alive connections, each request a valid
 * order with its own Idempotency-Key; beside, on the same servers with the same pool size and
 * the same requests, in turns round by round: the seed-style intake (fixtures/seed-intake:
 * zod, one pg transaction, a blocking publish with the official client) and the floor, a bare
 * functions-framework handler doing one INSERT per request. Then place-order and the
 * seed-style intake again at a rate both sustain, for the function CPU per order away from
 * saturation (where the emulator's JVM takes the cores the functions would use).
 */
export async function benchIntake(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const connections = quick ? 4 : 32;
  const seconds = quick ? 1 : 6;
  const rounds = quick ? 1 : 2;
  const pacedSeconds = quick ? 1 : 10;
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
    // place-order's cost (the baselines ignore it).
    const issuer = await startDevIssuer({ audience: projectId });
    stops.push(() => issuer.stop());
    const tokens = await Promise.all(
      Array.from({ length: customers }, (_, n) => issuer.token(`bench-${n}`)),
    );
    const functionEnv = {
      PATH: env.PATH,
      DATABASE_URL: database.url,
      DB_POOL_SIZE: String(poolSize),
      PUBSUB_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: projectId,
      // No metadata server answers off Google Cloud: the official Pub/Sub client would look
      // for one on its first call (on Cloud Run it answers at once).
      METADATA_SERVER_DETECTION: 'none',
      // Opt-in, for profiling the functions under this load (e.g. `--cpu-prof
      // --cpu-prof-dir=/tmp/prof`): Node options of every function served here.
      ...(env.BENCH_FUNCTION_NODE_OPTIONS ? { NODE_OPTIONS: env.BENCH_FUNCTION_NODE_OPTIONS } : {}),
    };
    // The functions not under load are measured too, so that their (idle) CPU is not counted
    // as the load generator's: they are children of this process as well.
    const processes = (fn: FunctionProcess) => ({
      function: fn.pid,
      ...Object.fromEntries(
        Object.entries(served)
          .filter(([, side]) => side.fn !== fn)
          .map(([what, side]) => [`idle ${what}`, side.fn.pid]),
      ),
      postgres: postgres.pid,
      'pubsub-emulator': emulator.pid,
      'load generator': process.pid,
    });

    const placeOrderDir = join(repoRoot, 'functions', 'place-order');
    const seedIntakeDir = join(__dirname, 'fixtures', 'seed-intake');
    const frameworks = [fixtures, seedIntakeDir, placeOrderDir].map(frameworkVersion);
    if (new Set(frameworks).size !== 1) {
      throw new Error(
        `intake: the functions would run on different functions-framework versions: ${frameworks.join(', ')}`,
      );
    }
    const start = async (
      name: string,
      options: { dir: string; entryPoint: string; env?: NodeJS.ProcessEnv },
    ) => {
      const fn = await startFunction({
        name,
        signatureType: 'http',
        ...options,
        env: { ...functionEnv, ...options.env },
        // Its stdout (a banner, logs at warn) is dropped; its stderr still shows errors.
        stdout: lineSink(),
        linePrefix: `${name} | `,
      });
      stops.push(() => fn.stop());
      return fn;
    };
    const serving = (fn: FunctionProcess, ordersTable: boolean): Served => ({
      fn,
      ordersTable,
      runs: [],
      paced: [],
    });
    const served = {
      'one INSERT': serving(
        await start('insert-one', { dir: join(fixtures, 'insert-one'), entryPoint: 'insertOne' }),
        false,
      ),
      'seed-style intake': serving(
        await start('seed-intake', { dir: seedIntakeDir, entryPoint: 'seedIntake' }),
        true,
      ),
      'place-order': serving(
        await start('place-order', {
          dir: placeOrderDir,
          entryPoint: declared['place-order'].entryPoint,
          env: {
            LOG_LEVEL: 'warn',
            AUTH_ISSUER: issuer.issuer,
            AUTH_AUDIENCE: issuer.audience,
            AUTH_JWKS_URL: issuer.jwksUrl,
            // Each customer places dozens of orders that no saga settles here: not measured.
            MAX_OPEN_ORDERS_PER_CUSTOMER: '1000000000',
          },
        }),
        true,
      ),
    };

    const measured = async (what: string, target: Served, shape: LoadShape): Promise<Run> => {
      const ordersBefore = target.ordersTable ? await settledOrderCount(database.url) : 0;
      const cpuBefore = await cpuTimes(processes(target.fn));
      const result = await load(target.fn.url, tokens, shape);
      const cpuAfter = await cpuTimes(processes(target.fn));
      const cpuMs = Object.fromEntries(
        Object.keys(cpuAfter).map((name) => [name, cpuAfter[name]! - (cpuBefore[name] ?? 0)]),
      );
      if (target.ordersTable) {
        // Requests still in flight when the load stops are not counted as answered, but commit.
        const committed = (await settledOrderCount(database.url)) - ordersBefore;
        if (committed < result.ok || committed > result.ok + shape.connections) {
          throw new Error(
            `intake: ${what} accepted ${result.ok} orders but committed ${committed}`,
          );
        }
      }
      log(
        `intake: ${what}: ${result.rate.toFixed(0)}/s, p50 ${result.p50.toFixed(1)} ms, ` +
          `p99 ${result.p99.toFixed(1)} ms, ${result.failed} failed, ` +
          `CPU ms per request: ${cpuPer({}, cpuMs, Math.max(1, result.ok))}`,
      );
      return { ...result, cpuMs };
    };

    for (const [what, side] of Object.entries(served)) {
      // The first request loads what the function loads lazily (a Pub/Sub client): wait for it.
      await load(side.fn.url, tokens, { connections: 1, seconds: 0, amount: 1 });
      if (warmupSeconds > 0) {
        log(`intake: warming ${what} up`);
        await load(side.fn.url, tokens, { connections, seconds: warmupSeconds });
      }
    }
    // Rounds alternate so that a burst of noise on this shared machine hits every side.
    // Each round starts with another side, so that no side always follows the same one.
    const sides = Object.entries(served);
    for (let round = 1; round <= rounds; round++) {
      const shift = (round - 1) % sides.length;
      for (const [what, side] of [...sides.slice(shift), ...sides.slice(0, shift)]) {
        log(`intake: round ${round}, ${what}, ${connections} connections for ${seconds} s`);
        side.runs.push(await measured(what, side, { connections, seconds }));
      }
    }
    const paced = { connections: 8, seconds: pacedSeconds, rate: pacedRate };
    for (const what of ['seed-style intake', 'place-order'] as const) {
      const side = served[what];
      log(`intake: ${what} at ${pacedRate} requests/s for ${pacedSeconds} s`);
      side.paced.push(await measured(`${what} at ${pacedRate}/s`, side, paced));
    }

    const ours = summary(served['place-order'].runs);
    const seed = summary(served['seed-style intake'].runs);
    const floor = summary(served['one INSERT'].runs);
    const oursPaced = summary(served['place-order'].paced);
    const seedPaced = summary(served['seed-style intake'].paced);
    const shape = `${connections} connections, ${rounds} x ${seconds} s in turns, pool ${poolSize}`;
    const failures = (load: Summary) => (load.failed > 0 ? `, ${load.failed} not 2xx` : '');
    const seedNote =
      'baseline: the seed-style intake (zod, one pg transaction writing the order and its items, then a blocking publish of OrderPlaced to its two topics with the official client; no token check, no idempotency key, no outbox)';
    return [
      measure(
        'intake-throughput',
        'requests/s',
        ours.rate,
        floor.rate,
        `${shape}; ${ours.ok} accepted${failures(ours)}, every one committed; baseline: one INSERT per request${failures(floor)}`,
      ),
      measure('intake-p50', 'ms', ours.p50, floor.p50, 'baseline: the one-INSERT p50'),
      measure('intake-p99', 'ms', ours.p99, floor.p99, 'baseline: the one-INSERT p99'),
      measure(
        'intake-cpu-per-order',
        'ms',
        ours.cpuPerOrder,
        floor.cpuPerOrder,
        `the function process's CPU time (user + system) per accepted order; baseline: the one-INSERT function's per request; CPU ms per request of each process: ${ours.cpuSplit}; baseline: ${floor.cpuSplit}`,
      ),
      measure(
        'intake-throughput-vs-seed',
        'requests/s',
        ours.rate,
        seed.rate,
        `${shape}; ${seedNote}${failures(seed)}`,
      ),
      measure(
        'intake-p99-vs-seed',
        'ms',
        ours.p99,
        seed.p99,
        `p50 ${ours.p50.toFixed(1)} ms vs ${seed.p50.toFixed(1)} ms; baseline: the seed-style intake's p99`,
      ),
      measure(
        'intake-cpu-per-order-vs-seed',
        'ms',
        ours.cpuPerOrder,
        seed.cpuPerOrder,
        `the function process's CPU per accepted order at saturation (the emulator's JVM competes for the cores); CPU ms per order of each process: ${ours.cpuSplit}; baseline: ${seed.cpuSplit}`,
      ),
      measure(
        `intake-cpu-per-order-vs-seed-at-${pacedRate}rps`,
        'ms',
        oursPaced.cpuPerOrder,
        seedPaced.cpuPerOrder,
        `the same at ${pacedRate} requests/s for ${pacedSeconds} s, 8 connections (${oursPaced.rate.toFixed(1)} vs ${seedPaced.rate.toFixed(1)} answered/s, p99 ${oursPaced.p99.toFixed(1)} vs ${seedPaced.p99.toFixed(1)} ms); CPU ms per order of each process: ${oursPaced.cpuSplit}; baseline: ${seedPaced.cpuSplit}`,
      ),
    ];
  } finally {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => log(`intake: cleanup failed: ${String(error)}`));
    }
  }
}

interface Summary extends Load {
  /** The function process's CPU ms per 2xx answer. */
  cpuPerOrder: number;
  /** CPU ms per 2xx answer of every measured process. */
  cpuSplit: string;
}

/** The runs of one side taken together: their answers, their latencies, their CPU. */
function summary(runs: readonly Run[]): Summary {
  const latencies = runs.flatMap((run) => run.latencies);
  const ok = runs.reduce((sum, run) => sum + run.ok, 0);
  const cpuMs: Record<string, number> = {};
  for (const run of runs) {
    for (const [name, ms] of Object.entries(run.cpuMs)) cpuMs[name] = (cpuMs[name] ?? 0) + ms;
  }
  const orders = Math.max(1, ok);
  return {
    ok,
    failed: runs.reduce((sum, run) => sum + run.failed, 0),
    seconds: runs.reduce((sum, run) => sum + run.seconds, 0),
    rate: ok / runs.reduce((sum, run) => sum + run.seconds, 0),
    latencies,
    p50: percentile(latencies, 0.5) ?? Number.NaN,
    p99: percentile(latencies, 0.99) ?? Number.NaN,
    cpuPerOrder: (cpuMs.function ?? 0) / orders,
    cpuSplit: cpuPer({}, cpuMs, orders),
  };
}

interface LoadShape {
  connections: number;
  seconds: number;
  /** Requests in all, instead of a duration. */
  amount?: number;
  /** Requests per second over all connections; as fast as answered when absent. */
  rate?: number;
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
  { connections, seconds, amount, rate }: LoadShape,
): Promise<Load> {
  const skus = seedProducts.filter((product) => product.stock > 0).map((product) => product.sku);
  const run = `${process.pid}-${Date.now().toString(36)}`;
  let sent = 0;
  const latencies: number[] = [];
  const options: autocannon.Options = {
    url,
    connections,
    ...(amount ? { amount } : { duration: seconds }),
    ...(rate ? { overallRate: rate } : {}),
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
    seconds: result.duration,
    latencies,
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

/** The version of functions-framework that serves a function in `dir`. */
function frameworkVersion(dir: string): string {
  // The package exports no ./package.json; its main module is build/src/index.js.
  const main = require.resolve('@google-cloud/functions-framework', { paths: [dir] });
  const manifest = join(dirname(main), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
