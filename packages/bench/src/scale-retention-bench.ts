import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createDb, type Database } from '@orders/db';
import type { DeadLetters, DomainEvent, EventBus, TopicName } from '@orders/events';
import { startPostgres, testDatabase } from '@orders/local-stack';
import { createOutbox } from '@orders/messaging';
import {
  createOrderSagaEngine,
  createPostgresIntakeStore,
  orderSagaConfigSchema,
  orderSagaHandler,
  orderSagaOptions,
  placeOrder,
  purgeClaims,
  purgeKeys,
  purgeRestingSagaHistory,
  purgeSentOutbox,
} from '@orders/ordering';
import {
  createPaymentHandler,
  createPostgresPaymentStore,
  createSandboxProvider,
  migrateSandboxLedger,
} from '@orders/payments';
import { createLogger, forEachConcurrently, percentile } from '@orders/platform';
import { createConsumer, parseConfig } from '@orders/runtime';
import {
  type Kysely,
  type QueryResult,
  type RootOperationNode,
  sql,
  type UnknownRow,
} from 'kysely';
import { pushedCloudEvent, runCleanup } from './event-handling-bench';
import { type BenchContext, type Measure, measure } from './measure';
import { cpuTimes } from './process-cpu';

/** The tables retention keeps bounded (docs/architecture.md, "Retention"). */
const retainedTables = ['processed_events', 'outbox', 'saga_transitions', 'idempotency_keys'];

interface Sizes {
  warmup: number;
  perRound: number;
  rounds: number;
}

// The warm-up is a round of its own: the first round on fresh tables also grows their files
// (pages that later rounds reuse) and warms the JIT and the caches: ~35% more CPU per order.
const fullSizes: Sizes = { warmup: 1_000, perRound: 1_000, rounds: 10 };
const quickSizes: Sizes = { warmup: 5, perRound: 20, rounds: 2 };
const concurrency = 16;
const skus = ['TEA-001', 'TEA-002', 'MUG-001', 'POT-001', 'FILTER-10', 'KETTLE-01', 'GIFT-BOX'];

/**
 * Each round is a day of orders; after it a day passes (every timestamp the retained rows
 * and their sagas and orders carry moves a day back, by the database's clock) and retention
 * runs with these windows, in those days. Not 0: the tables keep the rows of the window.
 */
const windowDays = { sentOutbox: 2, claims: 3, sagaHistory: 3 };
/** Idempotency-Keys are kept a day (IDEMPOTENCY_TTL_SECONDS), then purged with the rest. */
const daySeconds = 86_400;

/** What one day of orders cost and what retention left behind. */
interface Round {
  orders: number;
  /** Wall time of placing the orders and handling every event they caused. */
  handlingMs: number;
  /** CPU time (ms) of that: this process and PostgreSQL with its backends (when it is ours). */
  handlingCpuMs: number;
  /** SQL statements the handlers sent for that (transaction begin and commit not counted). */
  statements: number;
  /** Rows and bytes of the retained tables once the day passed and retention ran. */
  keptRows: number;
  keptBytes: number;
  /** Retention after the day: rows deleted, and its wall time. */
  purged: number;
  purgeMs: number;
}

/**
 * `scale-retention`: orders through the handlers in-process (place-order's `placeOrder`,
 * process-order's and payment-handler's consumers, the sandbox provider, the outbox),
 * a day of orders a round on one durable database; after each, a day passes and retention
 * runs as housekeeping runs it, with windows of days (`windowDays`). The retained tables
 * hold their windows' rows, the same however many orders came before, and the cost per
 * order of the last rounds (about 10,000 orders in) is set beside that of the first (about
 * 1,000).
 */
export async function benchScaleRetention(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const postgres = await startPostgres({ durable: true, env, log });
    cleanup.push(() => postgres.stop());
    const database = await testDatabase('bench_scale_retention', { DATABASE_URL: postgres.url });
    cleanup.push(() => database.drop());
    await database.db.updateTable('products').set({ stock: 100_000_000 }).execute();
    await migrateSandboxLedger(database.db);
    const projectId = 'bench-scale-retention';
    const config = parseConfig(orderSagaConfigSchema, {
      DATABASE_URL: database.url,
      GOOGLE_CLOUD_PROJECT: projectId,
    });
    const pool = createDb(database.url, { maxConnections: config.DB_POOL_SIZE });
    cleanup.push(() => pool.destroy());
    // The sandbox stands for a remote provider: a pool of its own, as payment-handler wires it.
    const providerPool = createDb(database.url, { maxConnections: config.DB_POOL_SIZE });
    cleanup.push(() => providerPool.destroy());
    // Every statement the handlers send is counted.
    let statements = 0;
    const counting = {
      transformQuery: (args: { node: RootOperationNode }) => {
        statements++;
        return args.node;
      },
      transformResult: async (args: { result: QueryResult<UnknownRow> }) => args.result,
    };
    const db = pool.withPlugin(counting);
    const providerDb = providerPool.withPlugin(counting);

    // Pub/Sub in-process: each copy goes to its topic's queue (analytics has no inbox: counted).
    const failures: unknown[] = [];
    const queues = { 'order-saga': [] as DomainEvent[], payments: [] as DomainEvent[] };
    const bus: EventBus = {
      publish: async (copies) =>
        copies.map((copy) => {
          if (copy.topic !== 'analytics') queueOf(copy.topic).push(copy.event as DomainEvent);
          return { ...copy, published: true };
        }),
    };
    const queueOf = (topic: TopicName) => {
      if (topic === 'order-saga' || topic === 'payments') return queues[topic];
      throw new Error(`scale-retention routes no events to ${topic}`);
    };
    const outbox = createOutbox(db, bus, (error) => failures.push(error));
    const deadLetters: DeadLetters = {
      send: async ({ reason }) => {
        failures.push(new Error(`dead-lettered: ${reason}`));
      },
    };
    const logger = createLogger({
      level: 'warn',
      write: (line) => log(`scale-retention: ${line}`),
    });
    const common = { projectId, outbox, deadLetters, logger, legacyCurrency: 'EUR' };
    const consumers = {
      'order-saga': createConsumer({
        ...common,
        name: 'process-order',
        topic: 'order-saga',
        handle: orderSagaHandler(createOrderSagaEngine(db, orderSagaOptions(config))),
      }),
      payments: createConsumer({
        ...common,
        name: 'payment-handler',
        topic: 'payments',
        handle: createPaymentHandler({
          provider: createSandboxProvider(providerDb, { latencyMs: 0 }),
          store: createPostgresPaymentStore(db, { consumer: 'payment-handler' }),
          source: 'payment-handler',
        }),
      }),
    };
    const intake = {
      // Keys are kept a day, then retention forgets them.
      store: createPostgresIntakeStore(db, { ttlSeconds: daySeconds, lockSeconds: 10 }),
      outbox,
      source: 'place-order',
      maxOpenOrders: 1_000_000,
      openOrdersRetryAfterSeconds: 60,
    };

    let placed = 0;
    /** Places `count` orders, then delivers every event they cause until none is left. */
    async function runOrders(count: number): Promise<number> {
      const started = performance.now();
      const numbers = Array.from({ length: count }, () => placed++);
      await forEachConcurrently(numbers, concurrency, async (n) => {
        const answer = await placeOrder(intake, {
          request: {
            customerId: `bench-${n}`,
            currency: 'EUR',
            items: [
              { sku: skus[n % skus.length]!, quantity: 1 + (n % 3) },
              { sku: skus[(n + 3) % skus.length]!, quantity: 1 },
            ],
          },
          correlationId: randomUUID(),
          idempotencyKey: randomUUID(),
          log: logger,
        });
        if (answer.status !== 202) throw new Error(`order ${n} answered ${answer.status}`);
      });
      while (queues['order-saga'].length > 0 || queues.payments.length > 0) {
        for (const topic of ['order-saga', 'payments'] as const) {
          const subscription = topic === 'order-saga' ? 'process-order' : 'payment-handler';
          const events = queues[topic].splice(0);
          await forEachConcurrently(events, concurrency, (event) =>
            consumers[topic](pushedCloudEvent(event, { projectId, topic, subscription })),
          );
        }
      }
      if (failures.length > 0) {
        throw new Error(
          `${failures.length} failures while handling orders, the first: ${String(failures[0])}`,
          {
            cause: failures[0],
          },
        );
      }
      return performance.now() - started;
    }

    const vacuum = () =>
      sql.raw(`vacuum analyze ${retainedTables.join(', ')}, sagas, orders`).execute(pool);

    /**
     * A day passes, then retention runs as housekeeping runs it, with the windows in days;
     * then VACUUM, as autovacuum would.
     */
    async function aDayPassesAndRetain(): Promise<{ purged: number; purgeMs: number }> {
      await aDayPasses(pool);
      // A day's autovacuum: the rows the day moved back leave no dead versions behind.
      await vacuum();
      const started = performance.now();
      const batches = { batchSize: 500, maxRows: Number.MAX_SAFE_INTEGER };
      const days = (n: number) => ({ olderThanSeconds: n * daySeconds, ...batches });
      const purges = [
        await purgeClaims(pool, days(windowDays.claims)),
        await purgeSentOutbox(pool, days(windowDays.sentOutbox)),
        await purgeRestingSagaHistory(pool, days(windowDays.sagaHistory)),
        await purgeKeys(pool, batches),
      ];
      const purgeMs = performance.now() - started;
      await vacuum();
      return { purged: purges.reduce((sum, purge) => sum + purge.deleted, 0), purgeMs };
    }

    log(
      `scale-retention: ${sizes.warmup} warm-up orders, then a day of ${sizes.perRound} a round; windows: sent outbox rows ${windowDays.sentOutbox} days, claims ${windowDays.claims}, saga history ${windowDays.sagaHistory}, keys 1`,
    );
    await runOrders(sizes.warmup);
    await aDayPassesAndRetain();
    const rounds: Round[] = [];
    // PostgreSQL's CPU is known when the bench started it (not one that env names).
    const measured = { bench: process.pid, postgres: postgres.pid };
    const cpuNow = async () =>
      Object.values(await cpuTimes(measured)).reduce((sum, ms) => sum + ms, 0);
    for (let round = 1; round <= sizes.rounds; round++) {
      const cpuBefore = await cpuNow();
      const statementsBefore = statements;
      const handlingMs = await runOrders(sizes.perRound);
      const handlingCpuMs = (await cpuNow()) - cpuBefore;
      const handlingStatements = statements - statementsBefore;
      await assertAllConfirmed(pool);
      const { purged, purgeMs } = await aDayPassesAndRetain();
      const kept = await retainedSize(pool);
      rounds.push({
        orders: sizes.perRound,
        handlingMs,
        handlingCpuMs,
        statements: handlingStatements,
        keptRows: kept.rows,
        keptBytes: kept.bytes,
        purged,
        purgeMs,
      });
      log(
        `scale-retention day ${round} (orders to ${placed}): ${(handlingMs / sizes.perRound).toFixed(2)} ms/order, CPU ${(handlingCpuMs / sizes.perRound).toFixed(2)} ms/order, ${(handlingStatements / sizes.perRound).toFixed(1)} statements/order; ${purged} purged in ${purgeMs.toFixed(0)} ms, ${kept.rows} rows kept`,
      );
    }
    const { rows: orderRows } = await sql<{ n: number }>`
      select count(*)::int as n from orders`.execute(pool);

    // Figures of the first rounds against the last ones (the median of each three, so that
    // one round that a burst of other work hit does not decide), and the last round's rows.
    const edge = Math.max(1, Math.min(3, Math.floor(rounds.length / 2)));
    const early = rounds.slice(0, edge);
    const late = rounds.slice(-edge);
    const first = rounds[0]!;
    const last = rounds.at(-1)!;
    const median = (of: Round[], figure: (r: Round) => number) =>
      percentile(of.map(figure), 0.5) ?? Number.NaN;
    const perOrder = (r: Round) => r.handlingMs / r.orders;
    const statementsPerOrder = (r: Round) => r.statements / r.orders;
    const cpuPerOrder = (r: Round) => r.handlingCpuMs / r.orders;
    const perRow = (r: Round) => (1000 * r.purgeMs) / Math.max(r.purged, 1);
    const mib = (bytes: number) => bytes / 1024 / 1024;
    const whose = postgres.pid === undefined ? 'this process' : 'this process and PostgreSQL';
    const ordersOf = (of: Round[]) => {
      const before = sizes.warmup + rounds.indexOf(of[0]!) * sizes.perRound;
      return `${before + 1}-${before + of.length * sizes.perRound}`;
    };
    const span = `median of the rounds of orders ${ordersOf(late)} against those of orders ${ordersOf(early)}`;
    const every = (figure: (r: Round) => number, digits: number) =>
      rounds.map((r) => figure(r).toFixed(digits)).join(', ');
    return [
      measure(
        'scale-retention-cpu-per-order',
        'ms',
        median(late, cpuPerOrder),
        median(early, cpuPerOrder),
        `CPU time (${whose}, /proc) per order, rounds of ${sizes.perRound} orders: the cost per order that noise on the machine moves least; ${span}; every round: ${every(cpuPerOrder, 2)} ms`,
      ),
      measure(
        'scale-retention-cost-per-order',
        'ms',
        median(late, perOrder),
        median(early, perOrder),
        `wall time per order (placed, reserved, charged, confirmed; 4 handlings, ${concurrency} at a time); ${span}; every round: ${every(perOrder, 2)} ms`,
      ),
      measure(
        'scale-retention-statements-per-order',
        'statements',
        median(late, statementsPerOrder),
        median(early, statementsPerOrder),
        `SQL statements the handlers sent per order (begin and commit not counted); ${span}; every round: ${every(statementsPerOrder, 1)}`,
      ),
      measure(
        'scale-retention-rows',
        'rows',
        last.keptRows,
        first.keptRows,
        `rows of ${retainedTables.join(', ')} after a day passed and retention ran (windows: sent outbox rows ${windowDays.sentOutbox} days, claims ${windowDays.claims}, saga history ${windowDays.sagaHistory}, keys 1; ${sizes.perRound} orders a day): the last day (orders to ${placed}) against the first (to ${sizes.warmup + sizes.perRound}); every day: ${every((r) => r.keptRows, 0)}; ${rounds.reduce((n, r) => n + r.purged, 0)} rows purged in all; orders (kept) ${orderRows[0]!.n}`,
      ),
      measure(
        'scale-retention-bytes',
        'MiB',
        mib(last.keptBytes),
        mib(first.keptBytes),
        `size of those tables with their indexes (pg_total_relation_size) at the same moments; VACUUM after each retention, as autovacuum; every day: ${every((r) => mib(r.keptBytes), 2)} MiB`,
      ),
      measure(
        'scale-retention-purge-per-row',
        'us',
        median(late, perRow),
        median(early, perRow),
        `retention's wall time per row deleted (batches of 500); ${span}; every round: ${every(perRow, 1)} us`,
      ),
    ];
  } finally {
    await runCleanup(cleanup, log);
  }
}

/**
 * A day passes: every timestamp that retention and the saga's rest read moves a day back
 * (the rows of sagas and orders that can still matter: the last weeks').
 */
async function aDayPasses(db: Kysely<Database>): Promise<void> {
  await sql`
    update processed_events set processed_at = processed_at - interval '1 day';
    update outbox set created_at = created_at - interval '1 day',
      sent_at = sent_at - interval '1 day', requeued_at = requeued_at - interval '1 day';
    update saga_transitions set at = at - interval '1 day';
    update idempotency_keys set created_at = created_at - interval '1 day',
      expires_at = expires_at - interval '1 day';
    update sagas set created_at = created_at - interval '1 day',
      updated_at = updated_at - interval '1 day', deadline_at = deadline_at - interval '1 day'
    where updated_at > now() - interval '14 days';
    update orders set created_at = created_at - interval '1 day'
    where created_at > now() - interval '14 days';`.execute(db);
}

/** Every order placed so far is CONFIRMED: the rounds measure whole orders. */
async function assertAllConfirmed(db: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{ status: string; n: number }>`
    select status, count(*)::int as n from orders where status <> 'CONFIRMED' group by status`.execute(
    db,
  );
  if (rows.length > 0) {
    throw new Error(
      `orders not confirmed: ${rows.map((row) => `${row.n} ${row.status}`).join(', ')}`,
    );
  }
}

async function retainedSize(db: Kysely<Database>): Promise<{ rows: number; bytes: number }> {
  const counts = retainedTables.map((table) => `(select count(*) from ${table})`).join(' + ');
  const sizes = retainedTables.map((table) => `pg_total_relation_size('${table}')`).join(' + ');
  const { rows } = await sql<{ rows: string; bytes: string }>`
    select ${sql.raw(counts)} as rows, ${sql.raw(sizes)} as bytes`.execute(db);
  return { rows: Number(rows[0]!.rows), bytes: Number(rows[0]!.bytes) };
}
