import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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
import { createLogger, percentile } from '@orders/platform';
import { createConsumer, parseConfig } from '@orders/runtime';
import {
  type Kysely,
  type QueryResult,
  type RootOperationNode,
  sql,
  type UnknownRow,
} from 'kysely';
import { driveConcurrently, pushedCloudEvent, runCleanup } from './event-handling-bench';
import { type BenchContext, type Measure, measure } from './measure';
import { cpuTimes } from './process-cpu';

/** The tables retention keeps bounded (docs/architecture.md, "Retention"). */
const retainedTables = ['processed_events', 'outbox', 'saga_transitions', 'idempotency_keys'];

interface Sizes {
  /** Orders of the warm-up day each database gets before anything else. */
  warmup: number;
  /** Days of `perDay` orders that grow the large database first. */
  growthDays: number;
  perDay: number;
  /** Measured days of `perTurn` orders, each database in turn, `turns` times each. */
  perTurn: number;
  turns: number;
}

// The warm-up is a day of its own: the first day on fresh tables also grows their files
// (pages that later days reuse) and warms the JIT and the caches: ~35% more CPU per order.
// The days that grow the large database are as long as the measured ones: the retained
// tables' files keep the size of their fullest day, so both databases see the same days.
// An odd number of turns: each side's median is one of its days, not the lower of two.
const fullSizes: Sizes = { warmup: 1_000, growthDays: 18, perDay: 500, perTurn: 500, turns: 5 };
const quickSizes: Sizes = { warmup: 5, growthDays: 1, perDay: 10, perTurn: 10, turns: 1 };
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

/** Who sends statements: each function, and the sandbox provider (remote in production). */
const senders = ['place-order', 'process-order', 'payment-handler', 'provider'] as const;
type Sender = (typeof senders)[number];

/** What one day of orders cost and what retention left behind. */
interface Round {
  orders: number;
  /** Orders in the database when the day began. */
  ordersBefore: number;
  /** Wall time of placing the orders and handling every event they caused. */
  handlingMs: number;
  /** The 95th percentile of the latency of each handling (placing, then each delivery). */
  p95Ms: number;
  /** CPU time (ms) of that: this process (the handlers), and PostgreSQL with its backends. */
  handlingCpuMs: number;
  databaseCpuMs: number;
  /** SQL statements the handlers sent for that (transaction begin and commit not counted). */
  statements: number;
  statementsBySender: Record<Sender, number>;
  /** Rows and bytes of the retained tables once the day passed and retention ran. */
  keptRows: number;
  keptBytes: number;
  /** Retention after the day: rows deleted, and its wall time. */
  purged: number;
  purgeMs: number;
}

/**
 * `scale` (also `--only scale-retention`): orders through the handlers in-process
 * (place-order's `placeOrder`, process-order's and payment-handler's consumers, the sandbox
 * provider, each function's outbox), a day of orders a round; after each, a day passes and
 * retention runs as housekeeping runs it, with windows of days (`windowDays`). Two databases
 * on one durable server: a small one (a warm-up day: about 1,000 orders) and a large one,
 * grown first by days of orders to about 10,000. Then days of orders on each in turns, so
 * that the machine's noise hits both: the large one's cost per order against the small
 * one's. The retained tables hold their windows' rows, the same however many orders came
 * before.
 */
export async function benchScale(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const postgres = await startPostgres({ durable: true, env, log });
    cleanup.push(() => postgres.stop());
    const small = await openShop('small', postgres.url, context, cleanup);
    const large = await openShop('large', postgres.url, context, cleanup);
    // PostgreSQL's CPU: the server the bench started, or the local one that env names.
    const postgresPid = postgres.pid ?? (await localServerPid(small.pool));
    const measured = { bench: process.pid, postgres: postgresPid };
    const day = (shop: Shop, count: number) => shop.runDay(count, measured);

    log(
      `scale: a warm-up day of ${sizes.warmup} orders on each database, ${sizes.growthDays} days of ${sizes.perDay} on the large one, then ${sizes.turns} turns of a day of ${sizes.perTurn} on each; windows: sent outbox rows ${windowDays.sentOutbox} days, claims ${windowDays.claims}, saga history ${windowDays.sagaHistory}, keys 1`,
    );
    await day(small, sizes.warmup);
    await day(large, sizes.warmup);
    for (let grown = 0; grown < sizes.growthDays; grown++) await day(large, sizes.perDay);
    const turns = { small: [] as Round[], large: [] as Round[] };
    for (let turn = 0; turn < sizes.turns; turn++) {
      // Which goes first alternates, so that neither always follows the other's retention.
      const order = turn % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const);
      for (const name of order) {
        turns[name].push(await day(name === 'small' ? small : large, sizes.perTurn));
      }
    }
    return scaleMeasures(turns, postgres.pid === undefined);
  } finally {
    await runCleanup(cleanup, log);
  }
}

/** One database with the functions' handlers wired to it, and its days of orders. */
interface Shop {
  pool: Kysely<Database>;
  /** Places `count` orders, handles all they cause, a day passes and retention runs. */
  runDay(count: number, measured: Record<string, number | undefined>): Promise<Round>;
}

/**
 * A database of its own on `serverUrl` with stock for every order and the sandbox's ledger,
 * and the handlers wired to it as the functions wire them: each function its own kysely
 * handle (its statements counted apart) and outbox on one pool, the sandbox provider on a
 * pool of its own (as payment-handler wires it), Pub/Sub a queue per topic in the process.
 */
async function openShop(
  name: 'small' | 'large',
  serverUrl: string,
  { log }: BenchContext,
  cleanup: (() => Promise<unknown>)[],
): Promise<Shop> {
  const database = await testDatabase(`bench_scale_${name}`, { DATABASE_URL: serverUrl });
  cleanup.push(() => database.drop());
  await database.db.updateTable('products').set({ stock: 100_000_000 }).execute();
  await migrateSandboxLedger(database.db);
  const projectId = `bench-scale-${name}`;
  const config = parseConfig(orderSagaConfigSchema, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
  });
  const pool = createDb(database.url, { maxConnections: config.DB_POOL_SIZE });
  cleanup.push(() => pool.destroy());
  const providerPool = createDb(database.url, { maxConnections: config.DB_POOL_SIZE });
  cleanup.push(() => providerPool.destroy());
  const statements: Record<Sender, number> = {
    'place-order': 0,
    'process-order': 0,
    'payment-handler': 0,
    provider: 0,
  };
  const counting = (sender: Sender) => ({
    transformQuery: (args: { node: RootOperationNode }) => {
      statements[sender]++;
      return args.node;
    },
    transformResult: async (args: { result: QueryResult<UnknownRow> }) => args.result,
  });
  const providerDb = providerPool.withPlugin(counting('provider'));

  // Pub/Sub in-process: each copy goes to its topic's queue (analytics has no inbox: counted).
  const failures: unknown[] = [];
  const queues = { 'order-saga': [] as DomainEvent[], payments: [] as DomainEvent[] };
  const queueOf = (topic: TopicName) => {
    if (topic === 'order-saga' || topic === 'payments') return queues[topic];
    throw new Error(`scale routes no events to ${topic}`);
  };
  const bus: EventBus = {
    publish: async (copies) =>
      copies.map((copy) => {
        if (copy.topic !== 'analytics') queueOf(copy.topic).push(copy.event as DomainEvent);
        return { ...copy, published: true };
      }),
  };
  const wiring = (sender: Exclude<Sender, 'provider'>) => {
    const db = pool.withPlugin(counting(sender));
    return { db, outbox: createOutbox(db, bus, (error) => failures.push(error)) };
  };
  const processOrder = wiring('process-order');
  const paymentHandler = wiring('payment-handler');
  const placeOrderWiring = wiring('place-order');
  const deadLetters: DeadLetters = {
    send: async ({ reason }) => {
      failures.push(new Error(`dead-lettered: ${reason}`));
    },
  };
  const logger = createLogger({ level: 'warn', write: (line) => log(`scale ${name}: ${line}`) });
  const common = { projectId, deadLetters, logger, legacyCurrency: 'EUR' };
  const consumers = {
    'order-saga': createConsumer({
      ...common,
      name: 'process-order',
      topic: 'order-saga',
      outbox: processOrder.outbox,
      handle: orderSagaHandler(createOrderSagaEngine(processOrder.db, orderSagaOptions(config))),
    }),
    payments: createConsumer({
      ...common,
      name: 'payment-handler',
      topic: 'payments',
      outbox: paymentHandler.outbox,
      handle: createPaymentHandler({
        provider: createSandboxProvider(providerDb, { latencyMs: 0 }),
        store: createPostgresPaymentStore(paymentHandler.db, { consumer: 'payment-handler' }),
        source: 'payment-handler',
      }),
    }),
  };
  const intake = {
    // Keys are kept a day, then retention forgets them.
    store: createPostgresIntakeStore(placeOrderWiring.db, {
      ttlSeconds: daySeconds,
      lockSeconds: 10,
    }),
    outbox: placeOrderWiring.outbox,
    source: 'place-order',
    maxOpenOrders: 1_000_000,
    openOrdersRetryAfterSeconds: 60,
  };

  let placed = 0;
  /**
   * Places `count` orders, then delivers every event they cause until none is left;
   * answers the wall time of it all and the latency of each handling.
   */
  async function runOrders(count: number): Promise<{ handlingMs: number; latenciesMs: number[] }> {
    const started = performance.now();
    const numbers = Array.from({ length: count }, () => placed++);
    const placing = await driveConcurrently(numbers, concurrency, async (n) => {
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
    const latenciesMs = [...placing.latenciesMs];
    while (queues['order-saga'].length > 0 || queues.payments.length > 0) {
      for (const topic of ['order-saga', 'payments'] as const) {
        const subscription = topic === 'order-saga' ? 'process-order' : 'payment-handler';
        const events = queues[topic].splice(0);
        const delivering = await driveConcurrently(events, concurrency, (event) =>
          consumers[topic](pushedCloudEvent(event, { projectId, topic, subscription })),
        );
        latenciesMs.push(...delivering.latenciesMs);
      }
    }
    if (failures.length > 0) {
      throw new Error(
        `${failures.length} failures while handling orders, the first: ${String(failures[0])}`,
        { cause: failures[0] },
      );
    }
    return { handlingMs: performance.now() - started, latenciesMs };
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

  const cpuNow = async (measured: Record<string, number | undefined>) => {
    const times = await cpuTimes(measured);
    return { bench: times.bench ?? Number.NaN, postgres: times.postgres ?? Number.NaN };
  };
  return {
    pool,
    async runDay(count, measured) {
      const ordersBefore = placed;
      const cpuBefore = await cpuNow(measured);
      const statementsBefore = { ...statements };
      const { handlingMs, latenciesMs } = await runOrders(count);
      const cpuAfter = await cpuNow(measured);
      const sent = Object.fromEntries(
        senders.map((sender) => [sender, statements[sender] - statementsBefore[sender]]),
      ) as Record<Sender, number>;
      await assertAllConfirmed(pool);
      const { purged, purgeMs } = await aDayPassesAndRetain();
      const kept = await retainedSize(pool);
      const round: Round = {
        orders: count,
        ordersBefore,
        handlingMs,
        p95Ms: percentile(latenciesMs, 0.95) ?? Number.NaN,
        handlingCpuMs: cpuAfter.bench - cpuBefore.bench,
        databaseCpuMs: cpuAfter.postgres - cpuBefore.postgres,
        statements: senders.reduce((sum, sender) => sum + sent[sender], 0),
        statementsBySender: sent,
        keptRows: kept.rows,
        keptBytes: kept.bytes,
        purged,
        purgeMs,
      };
      log(
        `scale ${name}, a day (orders ${ordersBefore + 1}-${placed}): ${(handlingMs / count).toFixed(2)} ms/order, handling p95 ${round.p95Ms.toFixed(1)} ms, CPU ${(round.handlingCpuMs / count).toFixed(2)} ms/order (PostgreSQL ${(round.databaseCpuMs / count).toFixed(2)}), ${(round.statements / count).toFixed(1)} statements/order; ${purged} purged in ${purgeMs.toFixed(0)} ms, ${kept.rows} rows kept`,
      );
      return round;
    },
  };
}

/** The large database's days against the small one's (the median of each side's turns). */
function scaleMeasures(
  turns: { small: Round[]; large: Round[] },
  sharedServer: boolean,
): Measure[] {
  const { small, large } = turns;
  const median = (of: Round[], figure: (r: Round) => number) =>
    percentile(of.map(figure), 0.5) ?? Number.NaN;
  const perOrder = (r: Round) => r.handlingMs / r.orders;
  const p95 = (r: Round) => r.p95Ms;
  const statementsPerOrder = (r: Round) => r.statements / r.orders;
  const cpuPerOrder = (r: Round) => r.handlingCpuMs / r.orders;
  const databaseCpuPerOrder = (r: Round) => r.databaseCpuMs / r.orders;
  const perRow = (r: Round) => (1000 * r.purgeMs) / Math.max(r.purged, 1);
  const mib = (bytes: number) => bytes / 1024 / 1024;
  const range = (of: Round[]) =>
    `${of[0]!.ordersBefore + 1}-${of.at(-1)!.ordersBefore + of.at(-1)!.orders}`;
  const span = `median of ${large.length} days of ${large[0]!.orders} orders on the large database (orders ${range(large)}) against as many on the small one (orders ${range(small)}), in turns`;
  const every = (figure: (r: Round) => number, digits: number) =>
    `large ${large.map((r) => figure(r).toFixed(digits)).join(', ')}; small ${small.map((r) => figure(r).toFixed(digits)).join(', ')}`;
  const compare = (
    name: string,
    unit: string,
    figure: (r: Round) => number,
    digits: number,
    what: string,
  ) =>
    measure(
      name,
      unit,
      median(large, figure),
      median(small, figure),
      `${what}; ${span}; every day: ${every(figure, digits)}`,
    );
  const lastLarge = large.at(-1)!;
  const lastSmall = small.at(-1)!;
  const measures = [
    compare(
      'scale-p95-per-order',
      'ms',
      p95,
      1,
      `95th percentile of the latency of each handling (placing an order, then each delivery to process-order and payment-handler; ${concurrency} at a time); wall time per order ${median(large, perOrder).toFixed(2)} against ${median(small, perOrder).toFixed(2)} ms`,
    ),
    compare(
      'scale-cpu-per-order',
      'ms',
      cpuPerOrder,
      2,
      "CPU time (/proc) of the process that runs the handlers (the functions' share) per order",
    ),
  ];
  if ([...small, ...large].every((r) => Number.isFinite(r.databaseCpuMs))) {
    measures.push(
      compare(
        'scale-db-cpu-per-order',
        'ms',
        databaseCpuPerOrder,
        2,
        `CPU time (/proc) of PostgreSQL, its postmaster and every child (the backends, WAL writer, checkpointer, autovacuum), per order${sharedServer ? ', a server shared with other work' : ''}`,
      ),
    );
  }
  measures.push(
    compare(
      'scale-statements-per-order',
      'statements',
      statementsPerOrder,
      1,
      `SQL statements the handlers sent per order (a kysely plugin per function; BEGIN and COMMIT not counted); by sender, the large database's last day: ${senders.map((sender) => `${sender} ${(lastLarge.statementsBySender[sender] / lastLarge.orders).toFixed(2)}`).join(', ')}`,
    ),
    measure(
      'scale-rows',
      'rows',
      lastLarge.keptRows,
      lastSmall.keptRows,
      `rows of ${retainedTables.join(', ')} after the last day passed and retention ran (windows: sent outbox rows ${windowDays.sentOutbox} days, claims ${windowDays.claims}, saga history ${windowDays.sagaHistory}, keys 1), the large database (orders to ${range(large).split('-')[1]}) against the small one (to ${range(small).split('-')[1]}); every day: ${every((r) => r.keptRows, 0)}`,
    ),
    measure(
      'scale-bytes',
      'MiB',
      mib(lastLarge.keptBytes),
      mib(lastSmall.keptBytes),
      `size of those tables with their indexes (pg_total_relation_size) at the same moments; VACUUM after each retention, as autovacuum; every day: ${every((r) => mib(r.keptBytes), 2)} MiB`,
    ),
    compare(
      'scale-purge-per-row',
      'us',
      perRow,
      1,
      "retention's wall time per row deleted (batches of 500)",
    ),
  );
  return measures;
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

/**
 * The postmaster of the server `db` reaches, when it runs on this machine (the parent of the
 * backend serving `db`'s connection, both named postgres); undefined otherwise.
 */
async function localServerPid(db: Kysely<Database>): Promise<number | undefined> {
  const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
  const parentOf = async (pid: number) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (!stat?.includes('(postgres)')) return undefined;
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };
  const postmaster = await parentOf(rows[0]!.pid);
  if (postmaster === undefined) return undefined;
  // The postmaster's own parent need not be postgres, but it must be one.
  const stat = await readFile(`/proc/${postmaster}/stat`, 'utf8').catch(() => '');
  return stat.includes('(postgres)') ? postmaster : undefined;
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
