import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { topics } from '@orders/events';
import {
  createTopology,
  type DevAuth,
  lineSink,
  type PubSubEmulator,
  startFunction,
  startLocalStack,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPublisher } from '@orders/messaging';
import { percentile } from '@orders/platform';
import { sql } from 'kysely';
import { runCleanup, startServers } from './event-handling-bench';
import { type BenchContext, type Measure, measure } from './measure';
import { cpuPer, cpuTimes } from './process-cpu';

const fixtures = join(__dirname, '..', 'src', 'fixtures');

/** Pub/Sub hops of a confirmed order: OrderPlaced, PaymentRequested, PaymentSucceeded. */
const hopsPerConfirmedOrder = 3;

/**
 * Orders per second offered to the stack: 4/s is the highest this shared two-core machine
 * sustained with no growing backlog while other runs loaded it (5/s did only when it was
 * quieter, 10/s never; see docs/performance.md). BENCH_PIPELINE_RATE overrides it.
 */
const defaultRate = 4;

interface Sizes {
  /** Placed and finished before anything is timed. */
  warmup: number;
  orders: number;
  hops: number;
  drainTimeoutMs: number;
}

const fullSizes: Sizes = { warmup: 20, orders: 500, hops: 100, drainTimeoutMs: 120_000 };
const quickSizes: Sizes = { warmup: 2, orders: 10, hops: 5, drainTimeoutMs: 30_000 };

/**
 * Measure 3: the whole local stack (durable PostgreSQL, the emulator, all five functions
 * from their built workspaces): orders placed through `POST /orders` at a fixed rate, then
 * placed-to-final latency per order from the database and the orders/s sustained.
 * Baseline: the emulator's own publish-to-push latency to a no-op function, times the hops
 * of a confirmed order.
 */
export async function benchPipeline(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const rate = Number(env.BENCH_PIPELINE_RATE ?? defaultRate);
  if (!(rate > 0)) throw new Error(`BENCH_PIPELINE_RATE must be a positive number, not ${rate}`);
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const { postgres, emulator } = await startServers(context, cleanup);
    const database = await testDatabase('bench_pipeline', { DATABASE_URL: postgres.url });
    cleanup.push(() => database.drop());
    const warehouseDir = await mkdtemp(join(tmpdir(), 'bench-pipeline-'));
    cleanup.push(() => rm(warehouseDir, { recursive: true, force: true }));

    const projectId = testProjectId('bench-pipeline');
    const stack = await startLocalStack({
      projectId,
      functions: [
        'place-order',
        'process-order',
        'payment-handler',
        'analytics-loader',
        'housekeeping',
      ],
      durable: true,
      env: {
        ...env,
        DATABASE_URL: database.url,
        PUBSUB_EMULATOR_HOST: emulator.host,
        LOG_LEVEL: env.BENCH_LOG_LEVEL ?? 'warn',
      },
      functionEnv: (name) =>
        name === 'analytics-loader' ? { DUCKDB_PATH: join(warehouseDir, 'warehouse.duckdb') } : {},
      log,
      // At LOG_LEVEL warn the functions only say something when something is wrong, but for
      // their metric lines (one per delivery, written whatever the level, at INFO): those are
      // written (production writes them too) and not shown.
      functionStdout: lineSink(unlessInfo(firstLines(log, 40))),
      functionStderr: lineSink(firstLines(log, 40)),
    });
    cleanup.push(() => stack.stop());
    await database.db.updateTable('products').set({ stock: 10_000_000 }).execute();

    const hops = await measureHops(emulator, env, log, sizes.hops);
    const hopP50 = percentile(hops, 0.5) ?? Number.NaN;
    const hopP95 = percentile(hops, 0.95) ?? Number.NaN;
    log(`pipeline: hops (ms) ${hops.map((ms) => ms.toFixed(0)).join(' ')}`);
    log(`pipeline: hop p50 ${hopP50.toFixed(1)} ms, p95 ${hopP95.toFixed(1)} ms`);

    const placeOrderUrl = stack.functions['place-order']!;
    const processes: Record<string, number | undefined> = {
      ...Object.fromEntries(
        Object.keys(stack.functions).map((name) => [name, stack.functionPid(name)]),
      ),
      postgres: postgres.pid,
      'pubsub-emulator': emulator.pid,
    };
    // Warm-up: the first pushes of a new subscription wait for the emulator's push loop to
    // start (seconds), and each function's first request loads and compiles its code.
    const warmup = await placeOrdersAtRate(placeOrderUrl, sizes.warmup, rate, stack.auth!);
    await waitForFinalStates(database.db, warmup.orderIds, sizes.drainTimeoutMs);
    const cpuBefore = await cpuTimes(processes);
    log(`pipeline: placing ${sizes.orders} orders at ${rate}/s`);
    const { orderIds, retried } = await placeOrdersAtRate(
      placeOrderUrl,
      sizes.orders,
      rate,
      stack.auth!,
    );
    const placedAt = performance.now();
    const drained = await waitForFinalStates(database.db, orderIds, sizes.drainTimeoutMs);
    const drainMs = performance.now() - placedAt;
    log(
      `pipeline: ${drained} of ${orderIds.length} orders final ${(drainMs / 1000).toFixed(1)} s after the last was placed`,
    );

    const cpuAfter = await cpuTimes(processes);
    const cpuPerOrder = cpuPer(cpuBefore, cpuAfter, orderIds.length);
    log(`pipeline: CPU ms per order: ${cpuPerOrder}`);
    const outcomes = await finalLatencies(database.db, orderIds);
    const finished = outcomes.filter((outcome) => outcome.ms !== null);
    if (finished.length < orderIds.length) {
      throw new Error(
        `${orderIds.length - finished.length} of ${orderIds.length} orders were not final ${sizes.drainTimeoutMs / 1000} s after the last was placed`,
      );
    }
    const confirmed = finished.filter((outcome) => outcome.status === 'CONFIRMED').length;
    const latencies = finished.map((outcome) => outcome.ms!);
    const firstPlaced = Math.min(...finished.map((outcome) => outcome.placedAt));
    const lastFinal = Math.max(...finished.map((outcome) => outcome.finalAt));
    const throughput = finished.length / ((lastFinal - firstPlaced) / 1000);
    const hopNote = `baseline: ${hopsPerConfirmedOrder} x the emulator's publish-to-push latency to a no-op function (${sizes.hops} pushes one at a time: p50 ${hopP50.toFixed(1)} ms, p95 ${hopP95.toFixed(1)} ms)`;
    const outcomeNote = `${sizes.orders} orders at ${rate}/s (${retried} retried after a 503 or 409), ${confirmed} confirmed, ${finished.length - confirmed} cancelled`;
    return [
      measure(
        'pipeline-p50',
        'ms',
        percentile(latencies, 0.5) ?? Number.NaN,
        hopsPerConfirmedOrder * hopP50,
        `${outcomeNote}; ${describeStages(outcomes)}; ${hopNote}`,
      ),
      measure(
        'pipeline-p95',
        'ms',
        percentile(latencies, 0.95) ?? Number.NaN,
        hopsPerConfirmedOrder * hopP95,
        `max ${Math.max(...latencies).toFixed(0)} ms`,
      ),
      measure(
        'pipeline-throughput',
        'orders/s',
        throughput,
        rate,
        `first placed to last final; baseline: the rate offered; the last order was final ${(drainMs / 1000).toFixed(1)} s after it was placed; CPU ms per order: ${cpuPerOrder || 'unknown (no /proc)'}`,
      ),
    ];
  } finally {
    await runCleanup(cleanup, log);
  }
}

/**
 * Publish-to-push latency (ms) of the emulator: a no-op function served by functions-framework
 * on a push subscription made like the stack's (createTopology, same delivery settings), fed
 * one message at a time by the event bus's publisher (`createPublisher`).
 */
async function measureHops(
  emulator: PubSubEmulator,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  count: number,
): Promise<number[]> {
  const projectId = testProjectId('bench-hop');
  const topic = 'bench-hop';
  const arrivals = new Map<string, (receivedAt: number) => void>();
  const receiver = await startFunction({
    name: 'noop-receiver',
    dir: join(fixtures, 'noop-receiver'),
    entryPoint: 'noop',
    signatureType: 'cloudevent',
    env: { PATH: env.PATH, NODE_ENV: 'production' },
    stdout: lineSink((line) => {
      const { seq, receivedAt } = JSON.parse(line) as { seq?: string; receivedAt: number };
      if (seq !== undefined) arrivals.get(seq)?.(receivedAt);
    }),
    stderr: lineSink((line) => log(`noop-receiver | ${line}`)),
  });
  const publisher = createPublisher({ projectId, emulatorHost: emulator.host });
  try {
    await createTopology({
      emulatorHost: emulator.host,
      projectId,
      pushEndpoints: { [topic]: `${receiver.url}/projects/${projectId}/topics/${topic}` },
      topics: { [topic]: { consumer: 'noop-receiver', delivery: topics['order-saga'].delivery } },
    });
    const latencies: number[] = [];
    const warmup = 5;
    for (let i = 0; i < warmup + count; i++) {
      const seq = String(i);
      const arrived = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`push ${seq} never arrived`)), 30_000);
        arrivals.set(seq, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
      const sentAt = performance.timeOrigin + performance.now();
      await publisher.publish(topic, { data: Buffer.from('{}'), attributes: { seq } });
      const receivedAt = await arrived;
      arrivals.delete(seq);
      if (i >= warmup) latencies.push(receivedAt - sentAt);
      // A pause of random length: the emulator pushes on a timer, and a fixed pause would
      // lock onto its phase; an order's hops meet it at any phase.
      await sleep(10 + Math.random() * 100);
    }
    return latencies;
  } finally {
    await receiver.stop();
  }
}

/**
 * Places `count` orders through `POST /orders`, starting one every 1/rate s (open loop: a
 * slow answer does not delay the next order); answers their ids once every request ended.
 */
async function placeOrdersAtRate(
  url: string,
  count: number,
  rate: number,
  auth: DevAuth,
): Promise<{ orderIds: string[]; retried: number }> {
  const skus = ['TEA-001', 'TEA-002', 'MUG-001', 'KETTLE-01', 'POT-001', 'FILTER-10'];
  const started = performance.now();
  const requests: ReturnType<typeof placeOrder>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const customerId = `bench-${i}`;
    const body = {
      customerId,
      currency: 'EUR',
      items: [
        { sku: skus[i % skus.length]!, quantity: 1 + (i % 3) },
        { sku: skus[(i + 1) % skus.length]!, quantity: 1 },
      ],
    };
    requests.push(auth.token(customerId).then((token) => placeOrder(url, body, token)));
  }
  const answers = await Promise.all(requests);
  const failed = answers.flatMap((answer) => ('error' in answer ? [answer.error] : []));
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${count} orders were refused; the first: ${failed[0]!.message}`,
    );
  }
  return {
    orderIds: answers.map((answer) => (answer as { orderId: string }).orderId),
    retried: answers.filter((answer) => 'attempts' in answer && answer.attempts > 1).length,
  };
}

/**
 * One order, as a well-behaved client sends it: a 503 (a transient failure) or a 409 (its
 * first attempt still in flight) is retried with the same Idempotency-Key, a few times.
 */
async function placeOrder(
  url: string,
  body: unknown,
  token: string,
): Promise<{ orderId: string; attempts: number } | { error: Error }> {
  const key = randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${url}/orders`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'idempotency-key': key,
        },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (response.status === 202) {
        return { orderId: (JSON.parse(text) as { orderId: string }).orderId, attempts: attempt };
      }
      const error = new Error(`POST /orders answered ${response.status}: ${text.slice(0, 300)}`);
      if (![409, 503].includes(response.status) || attempt === 5) return { error };
    } catch (error) {
      return { error: error as Error };
    }
    await sleep(50 * attempt);
  }
}

type Db = Awaited<ReturnType<typeof testDatabase>>['db'];

/** Polls until every order is CONFIRMED or CANCELLED, or the timeout; answers how many are. */
async function waitForFinalStates(db: Db, orderIds: string[], timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { final } = await db
      .selectFrom('orders')
      .select((eb) => eb.fn.countAll<number>().as('final'))
      .where('id', '=', sql<string>`any(${orderIds}::uuid[])`)
      .where('status', 'in', ['CONFIRMED', 'CANCELLED'])
      .executeTakeFirstOrThrow();
    if (Number(final) === orderIds.length || performance.now() > deadline) return Number(final);
    await sleep(200);
  }
}

/**
 * Per order: placed (orders.created_at, stamped by place-order) to the saga's first final
 * transition (saga_transitions.at, the start of the transaction that made it final), and the
 * stages between: the saga's first transition (process-order took OrderPlaced) and the
 * payment row (payment-handler took PaymentRequested), each the start of a transaction.
 */
async function finalLatencies(db: Db, orderIds: string[]) {
  const { rows } = await sql<{
    status: string;
    ms: number | null;
    placed_at: number;
    final_at: number | null;
    to_saga: number | null;
    to_payment: number | null;
    to_final: number | null;
  }>`
    select o.status,
      extract(epoch from (t.final_at - o.created_at)) * 1000 as ms,
      extract(epoch from o.created_at) * 1000 as placed_at,
      extract(epoch from t.final_at) * 1000 as final_at,
      extract(epoch from (t.saga_at - o.created_at)) * 1000 as to_saga,
      extract(epoch from (p.created_at - t.saga_at)) * 1000 as to_payment,
      extract(epoch from (t.final_at - p.created_at)) * 1000 as to_final
    from orders o
    left join lateral (
      select min(at) filter (where to_status in ('CONFIRMED', 'CANCELLED')) as final_at,
        min(at) as saga_at
      from saga_transitions where saga_id = o.id
    ) t on true
    left join payments p on p.payment_id = 'pay_' || o.id
    where o.id = any(${orderIds}::uuid[])
  `.execute(db);
  const number = (value: number | null) => (value === null ? null : Number(value));
  return rows.map((row) => ({
    status: row.status,
    ms: number(row.ms),
    placedAt: Number(row.placed_at),
    finalAt: Number(row.final_at),
    stages: {
      toSaga: number(row.to_saga),
      toPayment: number(row.to_payment),
      toFinal: number(row.to_final),
    },
  }));
}

/** p50/p95 of each stage of the orders that went through all three, for the report. */
function describeStages(outcomes: Awaited<ReturnType<typeof finalLatencies>>): string {
  const staged = outcomes.filter((outcome) =>
    Object.values(outcome.stages).every((value) => value !== null),
  );
  const describe = (label: string, key: keyof (typeof staged)[number]['stages']) => {
    const values = staged.map((outcome) => outcome.stages[key]!);
    const ms = (fraction: number) => (percentile(values, fraction) ?? Number.NaN).toFixed(0);
    return `${label} ${ms(0.5)}/${ms(0.95)}`;
  };
  return `stages p50/p95 ms: ${describe('placed->saga', 'toSaga')}, ${describe('saga->payment', 'toPayment')}, ${describe('payment->final', 'toFinal')}`;
}

/** Passes the first `limit` lines on to `log`, then says how many more it dropped. */
function firstLines(log: (line: string) => void, limit: number): (line: string) => void {
  let seen = 0;
  return (line) => {
    seen++;
    if (seen <= limit) log(line.slice(0, 500));
    else if (seen % 1000 === limit + 1) log(`(function output beyond ${limit} lines dropped)`);
  };
}

/** `onLine` for the lines that are not at INFO (or DEBUG). */
function unlessInfo(onLine: (line: string) => void): (line: string) => void {
  return (line) => {
    if (!/"severity":"(INFO|DEBUG)"/.test(line)) onLine(line);
  };
}
