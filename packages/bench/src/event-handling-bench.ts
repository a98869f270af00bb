import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createDb } from '@orders/db';
import {
  createEvent,
  type DomainEvent,
  type EventBus,
  encodeEvent,
  paymentIdOf,
} from '@orders/events';
import {
  createTopology,
  type PostgresServer,
  type PubSubEmulator,
  startPostgres,
  startPubSubEmulator,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import {
  createOutbox,
  createPublisher,
  createPubSubBus,
  createPubSubClient,
  createPubSubDeadLetters,
  type Outbox,
} from '@orders/messaging';
import {
  createOrderSagaEngine,
  orderSagaConfigSchema,
  orderSagaHandler,
  orderSagaOptions,
} from '@orders/ordering';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { createLogger, forEachConcurrently, percentile } from '@orders/platform';
import { createConsumer, parseConfig } from '@orders/runtime';
import { type KyselyPlugin, sql } from 'kysely';
import pg from 'pg';
import { createSeedHandler, seedHandlerConsumer } from './fixtures/seed-handler/seed-handler';
import { orderPlacedMessage } from './fixtures/seed-intake/seed-intake';
import { type BenchContext, type Measure, measure } from './measure';

/** What one push delivers to a consumer: the CloudEvent functions-framework makes of it. */
type PushedCloudEvent = Parameters<ReturnType<typeof createConsumer>>[0];

/** Latencies (ms) of each call and the wall time (ms) of the whole run. */
export interface ConcurrentRun {
  latenciesMs: number[];
  elapsedMs: number;
}

/**
 * Calls `work` on every item, `concurrency` calls in flight at a time (the next item starts
 * as soon as a call ends), and times each call. The first failure stops the run and is thrown.
 */
export async function driveConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<unknown>,
): Promise<ConcurrentRun> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  await forEachConcurrently(items, concurrency, async (item) => {
    const callStarted = performance.now();
    await work(item);
    latenciesMs.push(performance.now() - callStarted);
  });
  return { latenciesMs, elapsedMs: performance.now() - started };
}

/** The raw Pub/Sub push of `event` as functions-framework hands it to a CloudEvent function. */
export function pushedCloudEvent(event: DomainEvent, where: PushTarget): PushedCloudEvent {
  return pushedMessage(encodeEvent(event), where);
}

interface PushTarget {
  projectId: string;
  topic: string;
  subscription: string;
}

/** The raw Pub/Sub push of a message as functions-framework hands it to a CloudEvent function. */
export function pushedMessage(
  { data, attributes }: { data: Buffer; attributes: Record<string, string> },
  { projectId, topic, subscription }: PushTarget,
): PushedCloudEvent {
  const messageId = randomUUID();
  const publishTime = new Date().toISOString();
  return {
    specversion: '1.0',
    id: messageId,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/${projectId}/topics/${topic}`,
    time: publishTime,
    datacontenttype: 'application/json',
    data: {
      message: { data: data.toString('base64'), attributes, messageId, publishTime },
      subscription: `projects/${projectId}/subscriptions/${subscription}`,
    },
  } as PushedCloudEvent;
}

/** Each OrderPlaced of the benchmark holds these two lines (a hot catalog: contention is real). */
const skuPairs = [
  ['TEA-001', 'MUG-001'],
  ['TEA-002', 'FILTER-10'],
  ['KETTLE-01', 'TEA-001'],
  ['POT-001', 'TEA-002'],
  ['GIFT-BOX', 'FILTER-10'],
  ['MUG-001', 'POT-001'],
] as const;
const itemsPerOrder = 2;

/**
 * What the handler writes for one OrderPlaced of two lines, table by table (checked after
 * each run, so this stays true): the baseline writes the same rows in one statement.
 */
const rowsPerEvent = {
  processed_events: 1,
  products: itemsPerOrder,
  stock_reservations: itemsPerOrder,
  orders: 1,
  sagas: 1,
  saga_transitions: 2,
  outbox: 1,
} as const;
const rowsWritten = Object.values(rowsPerEvent).reduce((sum, n) => sum + n, 0);

interface Sizes {
  warmup: number;
  perRound: { 1: number; 16: number };
  rounds: number;
}

const fullSizes: Sizes = { warmup: 50, perRound: { 1: 150, 16: 600 }, rounds: 2 };
const quickSizes: Sizes = { warmup: 4, perRound: { 1: 8, 16: 32 }, rounds: 1 };

/**
 * Measure 2: process-order's handler (inbox claim, saga step with its stock reservation,
 * order update and outbox row, publish after commit, mark sent) driven in-process with real
 * OrderPlaced pushes on a durable PostgreSQL, at concurrency 1 and 16, once with a bus that
 * records (`event-handling*`) and once with the emulator's (`event-handling-emulator-bus*`).
 * Baseline: per event, one plain `pg` transaction writing the same rows with one statement,
 * same pool size, same concurrency.
 */
export async function benchEventHandling(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const { postgres, emulator } = await startServers(context, cleanup);
    const database = await testDatabase('bench_event_handling', { DATABASE_URL: postgres.url });
    cleanup.push(() => database.drop());
    const projectId = testProjectId('bench-events');
    await createTopology({ emulatorHost: emulator.host, projectId, pushEndpoints: {} });

    // The function's own configuration and wiring (functions/process-order/src/index.ts),
    // except that log lines are formatted and then dropped, not written to stdout.
    const config = parseConfig(orderSagaConfigSchema, {
      DATABASE_URL: database.url,
      PUBSUB_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: projectId,
      LOG_LEVEL: env.BENCH_LOG_LEVEL ?? 'info',
    });
    const poolSize = config.DB_POOL_SIZE;
    // Every statement the handler sends is counted (BEGIN and COMMIT are not: the driver sends
    // those itself, one of each per event).
    const sent = { statements: 0 };
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        sent.statements++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const pool = createDb(database.url, { maxConnections: poolSize });
    cleanup.push(() => pool.destroy());
    const db = pool.withPlugin(counting);
    const pubsub = createPubSubClient({ projectId, emulatorHost: emulator.host });
    const publisher = createPublisher({ projectId, emulatorHost: emulator.host });
    cleanup.push(() => pubsub.close());
    const engine = createOrderSagaEngine(db, orderSagaOptions(config));
    const publishFailures: unknown[] = [];
    const variant = (bus: EventBus): Variant => {
      // Timed, to tell what publishing after commit costs each event.
      const timing = { publishMs: 0, afterCommitMs: 0 };
      const timedBus: EventBus = {
        async publish(copies) {
          const started = performance.now();
          const outcomes = await bus.publish(copies);
          timing.publishMs += performance.now() - started;
          return outcomes;
        },
      };
      const outbox = createOutbox(db, timedBus, (error) => publishFailures.push(error));
      const timedOutbox: Outbox = {
        ...outbox,
        async publishCommitted(events) {
          const started = performance.now();
          const published = await outbox.publishCommitted(events);
          // Publish and mark: the publish time is taken out when the totals are reported.
          timing.afterCommitMs += performance.now() - started;
          return published;
        },
      };
      const consumer = createConsumer({
        name: 'process-order',
        topic: 'order-saga',
        projectId,
        outbox: timedOutbox,
        deadLetters: createPubSubDeadLetters(publisher),
        logger: createLogger({ level: config.LOG_LEVEL, write: () => {} }),
        legacyCurrency: config.LEGACY_CURRENCY,
        handle: orderSagaHandler(engine),
      });
      return {
        consumer,
        timing,
        runs: { 1: [], 16: [] },
        afterCommit: { 1: '', 16: '' },
        cost: { 1: { statements: 0, cpuMs: 0 }, 16: { statements: 0, cpuMs: 0 } },
      };
    };
    // Two buses behind the same outbox: one that hands each event over and records it (the
    // handler's own cost: Pub/Sub is a network edge, priced by the pipeline benchmark's
    // hops), and the emulator's, as the function runs locally.
    const recorded = new Set<string>();
    const variants = {
      recording: variant({
        publish: async (copies) =>
          copies.map((copy) => {
            recorded.add(`${copy.event.type} ${copy.event.causationId}`);
            return { ...copy, published: true };
          }),
      }),
      emulator: variant(createPubSubBus(publisher)),
    };
    const baselinePool = new pg.Pool({ connectionString: database.url, max: poolSize });
    // An idle connection the server ends (the database dropped at cleanup) is no failure of
    // the benchmark; unheard, the pool's 'error' would end the process.
    baselinePool.on('error', (error) => log(`event handling: baseline pool: ${error.message}`));
    cleanup.push(() => baselinePool.end());
    // The seed-style handler (fixtures/seed-handler) on its own pool of the same size and the
    // official client with its defaults, as its function wires them.
    const seedPool = new pg.Pool({ connectionString: database.url, max: poolSize });
    seedPool.on('error', (error) => log(`event handling: seed pool: ${error.message}`));
    cleanup.push(() => seedPool.end());
    const seedPubSub = createPubSubClient({ projectId, emulatorHost: emulator.host });
    cleanup.push(() => seedPubSub.close());
    const seedHandler = createSeedHandler({ pool: seedPool, pubsub: seedPubSub });

    const perVariant = sizes.warmup + sizes.rounds * (sizes.perRound[1] + sizes.perRound[16]);
    log(`event handling: placing ${4 * perVariant} orders`);
    const placed = await placeOrders(database, 4 * perVariant);
    const toPush = (events: DomainEvent<'OrderPlaced'>[]) =>
      events.map((event) =>
        pushedCloudEvent(event, { projectId, topic: 'order-saga', subscription: 'process-order' }),
      );
    const handledByRecording = placed.slice(0, perVariant);
    const handledByEmulator = placed.slice(perVariant, 2 * perVariant);
    const handledBySeed = placed.slice(3 * perVariant);
    const queues = {
      recording: toPush(handledByRecording),
      emulator: toPush(handledByEmulator),
      baseline: placed.slice(2 * perVariant, 3 * perVariant),
      // The same orders' OrderPlaced as the seed-style intake publishes it.
      seed: handledBySeed.map((event) =>
        pushedMessage(seedOrderPlaced(event), {
          projectId,
          topic: 'order-saga',
          subscription: 'seed-handler',
        }),
      ),
    };
    const baselineWrite = (event: DomainEvent<'OrderPlaced'>) =>
      writeBaselineRows(baselinePool, event);

    // Warm every path (JIT, pool connections, publishers) before anything is timed.
    const take = <T>(list: T[], count: number) => list.splice(0, count);
    await driveConcurrently(take(queues.recording, sizes.warmup), 16, variants.recording.consumer);
    await driveConcurrently(take(queues.emulator, sizes.warmup), 16, variants.emulator.consumer);
    await driveConcurrently(take(queues.baseline, sizes.warmup), 16, baselineWrite);
    await driveConcurrently(take(queues.seed, sizes.warmup), 16, seedHandler);

    for (const { timing } of Object.values(variants)) {
      timing.publishMs = 0;
      timing.afterCommitMs = 0;
    }
    const baselineRuns: Record<1 | 16, ConcurrentRun[]> = { 1: [], 16: [] };
    const baselineCpuMs = { 1: 0, 16: 0 };
    const seedRuns: Record<1 | 16, ConcurrentRun[]> = { 1: [], 16: [] };
    const seedCpuMs = { 1: 0, 16: 0 };
    for (const concurrency of [1, 16] as const) {
      // Rounds alternate so that a burst of noise on this shared machine hits every side.
      for (let round = 0; round < sizes.rounds; round++) {
        const count = sizes.perRound[concurrency];
        const line: string[] = [];
        for (const name of ['recording', 'emulator'] as const) {
          const { consumer, runs, cost } = variants[name];
          const statements = sent.statements;
          const cpu = process.cpuUsage();
          const run = await driveConcurrently(take(queues[name], count), concurrency, consumer);
          cost[concurrency].cpuMs += cpuMsSince(cpu);
          cost[concurrency].statements += sent.statements - statements;
          runs[concurrency].push(run);
          line.push(`${name} bus ${rate(run).toFixed(0)}/s`);
        }
        const cpu = process.cpuUsage();
        const written = await driveConcurrently(
          take(queues.baseline, count),
          concurrency,
          baselineWrite,
        );
        baselineCpuMs[concurrency] += cpuMsSince(cpu);
        baselineRuns[concurrency].push(written);
        const seedCpu = process.cpuUsage();
        const bySeed = await driveConcurrently(take(queues.seed, count), concurrency, seedHandler);
        seedCpuMs[concurrency] += cpuMsSince(seedCpu);
        seedRuns[concurrency].push(bySeed);
        log(
          `event handling c${concurrency} round ${round + 1}: ${line.join(', ')}, baseline ${rate(written).toFixed(0)}/s, seed-style handler ${rate(bySeed).toFixed(0)}/s`,
        );
      }
      for (const name of ['recording', 'emulator'] as const) {
        const { timing, runs, afterCommit, cost } = variants[name];
        const events = runs[concurrency].reduce((n, run) => n + run.latenciesMs.length, 0);
        afterCommit[concurrency] =
          `${(cost[concurrency].statements / events + 2).toFixed(1)} round trips to PostgreSQL per event (statements, BEGIN and COMMIT) against the baseline's 3; CPU of this process per event ${(cost[concurrency].cpuMs / events).toFixed(2)} ms against ${(baselineCpuMs[concurrency] / events).toFixed(2)} ms; after commit, per event: publish ${perEvent(timing.publishMs, runs[concurrency])} ms, mark sent ${perEvent(timing.afterCommitMs - timing.publishMs, runs[concurrency])} ms`;
        timing.publishMs = 0;
        timing.afterCommitMs = 0;
      }
    }
    if (publishFailures.length > 0) {
      throw new Error(`${publishFailures.length} publishes after commit failed`, {
        cause: publishFailures[0],
      });
    }
    await checkHandlerRows(database, [...handledByRecording, ...handledByEmulator]);
    await checkSeedHandlerRows(database, handledBySeed);
    const missing = handledByRecording.filter(
      (event) => !recorded.has(`PaymentRequested ${event.id}`),
    ).length;
    if (recorded.size !== handledByRecording.length || missing > 0) {
      throw new Error(
        `the recording bus got ${recorded.size} events for ${handledByRecording.length} handled`,
      );
    }

    const baseline = { 1: summary(baselineRuns[1]), 16: summary(baselineRuns[16]) };
    const of = (name: keyof typeof variants, concurrency: 1 | 16) =>
      summary(variants[name].runs[concurrency]);
    const baselineNote = `baseline: one pg transaction per event writing the same ${rowsWritten} rows in one statement; pool ${poolSize}`;
    const measures: Measure[] = [];
    for (const [name, suffix] of [
      ['recording', ''],
      ['emulator', '-emulator-bus'],
    ] as const) {
      const c1 = of(name, 1);
      const c16 = of(name, 16);
      const bus =
        name === 'recording'
          ? 'a bus that records what it is handed'
          : 'the emulator bus (createPubSubBus)';
      measures.push(
        measure(
          `event-handling${suffix}`,
          'events/s',
          c16.rate,
          baseline[16].rate,
          `concurrency 16, ${bus}; ${variants[name].afterCommit[16]} (concurrent); ${baselineNote}`,
        ),
        measure(
          `event-handling${suffix}-p99`,
          'ms',
          c16.p99,
          baseline[16].p99,
          `concurrency 16; p50 ${c16.p50.toFixed(1)} ms vs ${baseline[16].p50.toFixed(1)} ms`,
        ),
        measure(
          `event-handling${suffix}-c1`,
          'events/s',
          c1.rate,
          baseline[1].rate,
          `concurrency 1, ${bus}; ${variants[name].afterCommit[1]}`,
        ),
        measure(
          `event-handling${suffix}-p99-c1`,
          'ms',
          c1.p99,
          baseline[1].p99,
          `concurrency 1; p50 ${c1.p50.toFixed(1)} ms vs ${baseline[1].p50.toFixed(1)} ms`,
        ),
      );
    }
    const ours = { 1: of('emulator', 1), 16: of('emulator', 16) };
    const seed = { 1: summary(seedRuns[1]), 16: summary(seedRuns[16]) };
    const cpuPerEvent = (cpuMs: number, runs: ConcurrentRun[]) =>
      `${(cpuMs / runs.reduce((n, run) => n + run.latenciesMs.length, 0)).toFixed(2)} ms`;
    const oursCpu = (concurrency: 1 | 16) =>
      cpuPerEvent(variants.emulator.cost[concurrency].cpuMs, variants.emulator.runs[concurrency]);
    const seedCpu = (concurrency: 1 | 16) =>
      cpuPerEvent(seedCpuMs[concurrency], seedRuns[concurrency]);
    measures.push(
      measure(
        'event-handling-vs-seed',
        'events/s',
        ours[16].rate,
        seed[16].rate,
        `concurrency 16, both publishing to the emulator (ours: createPubSubBus after commit; the seed-style handler: the official client); CPU of this process per event ${oursCpu(16)} against ${seedCpu(16)}; at concurrency 1: ${ours[1].rate.toFixed(0)} against ${seed[1].rate.toFixed(0)} events/s (${(ours[1].rate / seed[1].rate).toFixed(2)}x), CPU per event ${oursCpu(1)} against ${seedCpu(1)}; baseline: the seed-style handler (is_processed select, one transaction reserving the stock and moving the order, a blocking publish of PaymentRequested, mark_processed insert), pool ${poolSize}`,
      ),
      measure(
        'event-handling-vs-seed-p99',
        'ms',
        ours[16].p99,
        seed[16].p99,
        `concurrency 16; p50 ${ours[16].p50.toFixed(1)} ms vs ${seed[16].p50.toFixed(1)} ms; at concurrency 1, p99 ${ours[1].p99.toFixed(1)} ms vs ${seed[1].p99.toFixed(1)} ms`,
      ),
    );
    return measures;
  } finally {
    await runCleanup(cleanup, log);
  }
}

interface Variant {
  consumer: ReturnType<typeof createConsumer>;
  timing: { publishMs: number; afterCommitMs: number };
  runs: Record<1 | 16, ConcurrentRun[]>;
  afterCommit: Record<1 | 16, string>;
  /** Statements sent and CPU (ms) of this process, over all the runs at a concurrency. */
  cost: Record<1 | 16, { statements: number; cpuMs: number }>;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

/** Calls per second over the runs' wall time, and the p50 and p99 of their latencies. */
export function summary(runs: ConcurrentRun[]) {
  const latencies = runs.flatMap((run) => run.latenciesMs);
  return {
    rate: latencies.length / sumElapsedSeconds(runs),
    p50: percentile(latencies, 0.5) ?? Number.NaN,
    p99: percentile(latencies, 0.99) ?? Number.NaN,
  };
}

function perEvent(totalMs: number, runs: ConcurrentRun[]): string {
  const events = runs.reduce((n, run) => n + run.latenciesMs.length, 0);
  return (totalMs / events).toFixed(1);
}

function rate(run: ConcurrentRun): number {
  return run.latenciesMs.length / (run.elapsedMs / 1000);
}

function sumElapsedSeconds(runs: ConcurrentRun[]): number {
  return runs.reduce((sum, run) => sum + run.elapsedMs, 0) / 1000;
}

/**
 * A durable PostgreSQL and the emulator of their own, or the ones env names (tests). Both
 * stop on cleanup; a server named by env is left alone by its handle.
 */
export async function startServers(
  { env, log }: BenchContext,
  cleanup: (() => Promise<unknown>)[],
): Promise<{ postgres: PostgresServer; emulator: PubSubEmulator }> {
  const [postgres, emulator] = await Promise.allSettled([
    startPostgres({ durable: true, env, log }),
    startPubSubEmulator({ env, log }),
  ]);
  if (postgres.status === 'fulfilled') cleanup.push(() => postgres.value.stop());
  if (emulator.status === 'fulfilled') cleanup.push(() => emulator.value.stop());
  if (postgres.status === 'rejected') throw postgres.reason;
  if (emulator.status === 'rejected') throw emulator.reason;
  return { postgres: postgres.value, emulator: emulator.value };
}

/** Runs cleanups last first; every one runs, failures are logged, none is thrown. */
export async function runCleanup(
  cleanup: (() => Promise<unknown>)[],
  log: (line: string) => void,
): Promise<void> {
  while (cleanup.length > 0) {
    const step = cleanup.pop()!;
    await step().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
  }
}

/**
 * Inserts `count` orders as place-order does (order, items, OrderPlaced outbox row, then
 * marked sent as after its publish), with stock enough for all of them. The `i`th order
 * holds the lines of `skusOf(i)` (by default one of the benchmark's six pairs).
 */
export async function placeOrders(
  database: TestDatabase,
  count: number,
  skusOf: (i: number) => readonly string[] = (i) => skuPairs[i % skuPairs.length]!,
): Promise<DomainEvent<'OrderPlaced'>[]> {
  const prices = new Map(
    (await database.db.selectFrom('products').select(['sku', 'price_minor']).execute()).map(
      (row) => [row.sku, row.price_minor],
    ),
  );
  const placed = Array.from({ length: count }, (_, i) => {
    const items = skusOf(i).map((sku, line) => ({
      sku,
      quantity: 1 + ((i + line) % 3),
      unitPriceMinor: prices.get(sku)!,
    }));
    return createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: `bench-${i % 500}`,
        currency: 'EUR',
        items,
        totalMinor: items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0),
      },
      { source: 'place-order', correlationId: randomUUID() },
    );
  });
  await database.db.transaction().execute(async (trx) => {
    await trx.updateTable('products').set({ stock: 10_000_000 }).execute();
    for (const event of placed) await insertPlacedOrder(trx, event);
    await trx.updateTable('outbox').set({ sent_at: sql<Date>`now()` }).execute();
  });
  return placed;
}

/**
 * The baseline: the rows the handler writes for one OrderPlaced (see rowsPerEvent), in one
 * transaction of one statement with plain `pg`: the floor any handler has to pay.
 */
export async function writeBaselineRows(
  pool: pg.Pool,
  placed: DomainEvent<'OrderPlaced'>,
): Promise<void> {
  const { orderId, customerId, currency, totalMinor, items } = placed.data;
  if (!items) throw new Error(`bench order ${orderId} has no items`);
  const paymentId = paymentIdOf(orderId);
  const state = {
    status: 'AWAITING_PAYMENT',
    orderId,
    customerId,
    currency,
    totalMinor,
    items: items.map(({ sku, quantity }) => ({ sku, quantity })),
    correlationId: placed.correlationId,
    paymentId,
  };
  const requested = createEvent(
    'PaymentRequested',
    { orderId, paymentId, customerId, amountMinor: totalMinor, currency },
    { source: 'process-order', correlationId: placed.correlationId, causationId: placed.id },
  );
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(
      `with claim as (
         insert into processed_events (consumer, event_id) values ('bench-baseline', $1)
       ), wanted (sku, quantity) as (
         select * from unnest($2::text[], $3::int[])
       ), taken as (
         update products p set stock = p.stock - w.quantity from wanted w where p.sku = w.sku
       ), reserved as (
         insert into stock_reservations (order_id, sku, quantity, state)
         select $4::uuid, sku, quantity, 'reserved' from wanted
       ), saga as (
         insert into sagas (id, type, status, version, state, deadline_at, correlation_id, updated_at)
         values ($4, 'order', 'AWAITING_PAYMENT', 2, $5, now() + interval '2 minutes', $6, now())
       ), transitions as (
         insert into saga_transitions (saga_id, version, from_status, to_status, cause_type, cause_event_id)
         values ($4, 1, 'NEW', 'RESERVING_STOCK', 'OrderPlaced', $1),
                ($4, 2, 'RESERVING_STOCK', 'AWAITING_PAYMENT', 'StockReserved', $1)
       ), moved as (
         update orders set status = 'AWAITING_PAYMENT', cancel_reason = null, updated_at = now()
         where id = $4
       ), emitted as (
         insert into outbox (id, event) values ($7, $8)
       )
       select 1`,
      [
        placed.id,
        items.map((item) => item.sku),
        items.map((item) => item.quantity),
        orderId,
        JSON.stringify(state),
        placed.correlationId,
        requested.id,
        JSON.stringify(requested),
      ],
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Checks that the handler wrote, per event, what rowsPerEvent says (so that the baseline
 * stays a like-for-like comparison) and published every PaymentRequested. Answers how many
 * were published.
 */
async function checkHandlerRows(
  database: TestDatabase,
  handled: readonly DomainEvent<'OrderPlaced'>[],
): Promise<number> {
  const orderIds = handled.map((event) => event.data.orderId);
  const eventIds = handled.map((event) => event.id);
  const { rows } = await sql<{ table: string; count: number }>`
    with handled as (select unnest(${orderIds}::uuid[]) as id)
    select 'processed_events' as table, count(*)::int as count from processed_events
      where consumer = 'process-order' and event_id = any(${eventIds}::uuid[])
    union all select 'sagas', count(*)::int from sagas
      where id in (select id from handled) and status = 'AWAITING_PAYMENT' and version = 2
    union all select 'saga_transitions', count(*)::int from saga_transitions
      where saga_id in (select id from handled)
    union all select 'stock_reservations', count(*)::int from stock_reservations
      where order_id in (select id from handled) and state = 'reserved'
    union all select 'orders', count(*)::int from orders
      where id in (select id from handled) and status = 'AWAITING_PAYMENT'
    union all select 'outbox', count(*)::int from outbox
      where event->>'type' = 'PaymentRequested' and sent_at is not null
        and (event->>'subject')::uuid in (select id from handled)
  `.execute(database.db);
  const counts = Object.fromEntries(rows.map((row) => [row.table, row.count]));
  for (const table of [
    'processed_events',
    'sagas',
    'saga_transitions',
    'stock_reservations',
    'orders',
    'outbox',
  ] as const) {
    const expected = handled.length * rowsPerEvent[table];
    if (counts[table] !== expected) {
      throw new Error(
        `the handler left ${counts[table]} rows of ${table} for ${handled.length} events, expected ${expected} (outbox: published and marked sent): the baseline no longer matches it`,
      );
    }
  }
  return counts.outbox!;
}

/** OrderPlaced of a placed order as the seed-style intake publishes it. */
function seedOrderPlaced(event: DomainEvent<'OrderPlaced'>) {
  return orderPlacedMessage({
    eventId: event.id,
    orderId: event.data.orderId,
    customerId: event.data.customerId,
    totalMinor: event.data.totalMinor,
    correlationId: event.correlationId,
    occurredAt: new Date(event.occurredAt),
  });
}

/**
 * Checks that the seed-style handler did its step for every event: marked it processed,
 * reserved both lines of its order and moved the order to AWAITING_PAYMENT.
 */
async function checkSeedHandlerRows(
  database: TestDatabase,
  handled: readonly DomainEvent<'OrderPlaced'>[],
): Promise<void> {
  const orderIds = handled.map((event) => event.data.orderId);
  const eventIds = handled.map((event) => event.id);
  const { rows } = await sql<{ table: string; count: number }>`
    select 'processed_events' as table, count(*)::int as count from processed_events
      where consumer = ${seedHandlerConsumer} and event_id = any(${eventIds}::uuid[])
    union all select 'stock_reservations', count(*)::int from stock_reservations
      where order_id = any(${orderIds}::uuid[]) and state = 'reserved'
    union all select 'orders', count(*)::int from orders
      where id = any(${orderIds}::uuid[]) and status = 'AWAITING_PAYMENT'
  `.execute(database.db);
  const expected = {
    processed_events: handled.length,
    stock_reservations: handled.length * itemsPerOrder,
    orders: handled.length,
  };
  for (const { table, count } of rows) {
    if (count !== expected[table as keyof typeof expected]) {
      throw new Error(
        `the seed-style handler left ${count} rows of ${table} for ${handled.length} events, expected ${expected[table as keyof typeof expected]}`,
      );
    }
  }
}
