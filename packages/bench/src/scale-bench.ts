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

/** Who sends statements: each function, and the sandbox provider (remote in production). */
const senders = ['place-order', 'process-order', 'payment-handler', 'provider'] as const;
type Sender = (typeof senders)[number];

/** What one day of orders cost and what retention left behind. */
interface Round {
  orders: number;
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
 * `scale` (also `--only scale-retention`): orders through the handlers in-process (place-order's `placeOrder`,
 * process-order's and payment-handler's consumers, the sandbox provider, the outbox),
 * a day of orders a round on one durable database; after each, a day passes and retention
 * runs as housekeeping runs it, with windows of days (`windowDays`). The retained tables
 * hold their windows' rows, the same however many orders came before, and the cost per
 * order of the last rounds (about 10,000 orders in) is set beside that of the first (about
 * 1,000).
 */
export async function benchScale(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const postgres = await startPostgres({ durable: true, env, log });
    cleanup.push(() => postgres.stop());
    const database = await testDatabase('bench_scale', { DATABASE_URL: postgres.url });
    cleanup.push(() => database.drop());
    await database.db.updateTable('products').set({ stock: 100_000_000 }).execute();
    await migrateSandboxLedger(database.db);
    const projectId = 'bench-scale';
    const config = parseConfig(orderSagaConfigSchema, {
      DATABASE_URL: database.url,
      GOOGLE_CLOUD_PROJECT: projectId,
    });
    const pool = createDb(database.url, { maxConnections: config.DB_POOL_SIZE });
    cleanup.push(() => pool.destroy());
    // The sandbox stands for a remote provider: a pool of its own, as payment-handler wires it.
    const providerPool = createDb(database.url, { maxConnections: config.DB_POOL_SIZE });
    cleanup.push(() => providerPool.destroy());
    // Every statement the handlers send is counted, per function (the sandbox provider apart:
    // in production a remote provider).
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
    const dbOf = (sender: Exclude<Sender, 'provider'>) => pool.withPlugin(counting(sender));
    const providerDb = providerPool.withPlugin(counting('provider'));

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
      throw new Error(`scale routes no events to ${topic}`);
    };
    // Each function its own database handle and outbox, as each is a process of its own.
    const wiring = (sender: Exclude<Sender, 'provider'>) => {
      const db = dbOf(sender);
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
    const logger = createLogger({
      level: 'warn',
      write: (line) => log(`scale: ${line}`),
    });
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
    async function runOrders(
      count: number,
    ): Promise<{ handlingMs: number; latenciesMs: number[] }> {
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
          {
            cause: failures[0],
          },
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

    log(
      `scale: ${sizes.warmup} warm-up orders, then a day of ${sizes.perRound} a round; windows: sent outbox rows ${windowDays.sentOutbox} days, claims ${windowDays.claims}, saga history ${windowDays.sagaHistory}, keys 1`,
    );
    await runOrders(sizes.warmup);
    await aDayPassesAndRetain();
    const rounds: Round[] = [];
    // PostgreSQL's CPU: the server the bench started, or the local one that env names.
    const postgresPid = postgres.pid ?? (await localServerPid(pool));
    const cpuNow = async () => {
      const times = await cpuTimes({ bench: process.pid, postgres: postgresPid });
      return { bench: times.bench ?? Number.NaN, postgres: times.postgres ?? Number.NaN };
    };
    for (let round = 1; round <= sizes.rounds; round++) {
      const cpuBefore = await cpuNow();
      const statementsBefore = { ...statements };
      const { handlingMs, latenciesMs } = await runOrders(sizes.perRound);
      const cpuAfter = await cpuNow();
      const sent = Object.fromEntries(
        senders.map((sender) => [sender, statements[sender] - statementsBefore[sender]]),
      ) as Record<Sender, number>;
      const handlingStatements = senders.reduce((sum, sender) => sum + sent[sender], 0);
      await assertAllConfirmed(pool);
      const { purged, purgeMs } = await aDayPassesAndRetain();
      const kept = await retainedSize(pool);
      const r: Round = {
        orders: sizes.perRound,
        handlingMs,
        p95Ms: percentile(latenciesMs, 0.95) ?? Number.NaN,
        handlingCpuMs: cpuAfter.bench - cpuBefore.bench,
        databaseCpuMs: cpuAfter.postgres - cpuBefore.postgres,
        statements: handlingStatements,
        statementsBySender: sent,
        keptRows: kept.rows,
        keptBytes: kept.bytes,
        purged,
        purgeMs,
      };
      rounds.push(r);
      log(
        `scale day ${round} (orders to ${placed}): ${(handlingMs / r.orders).toFixed(2)} ms/order, handling p95 ${r.p95Ms.toFixed(1)} ms, CPU ${(r.handlingCpuMs / r.orders).toFixed(2)} ms/order (PostgreSQL ${(r.databaseCpuMs / r.orders).toFixed(2)}), ${(handlingStatements / r.orders).toFixed(1)} statements/order; ${purged} purged in ${purgeMs.toFixed(0)} ms, ${kept.rows} rows kept`,
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
    const p95 = (r: Round) => r.p95Ms;
    const statementsPerOrder = (r: Round) => r.statements / r.orders;
    const cpuPerOrder = (r: Round) => r.handlingCpuMs / r.orders;
    const databaseCpuPerOrder = (r: Round) => r.databaseCpuMs / r.orders;
    const perRow = (r: Round) => (1000 * r.purgeMs) / Math.max(r.purged, 1);
    const mib = (bytes: number) => bytes / 1024 / 1024;
    const ordersOf = (of: Round[]) => {
      const before = sizes.warmup + rounds.indexOf(of[0]!) * sizes.perRound;
      return `${before + 1}-${before + of.length * sizes.perRound}`;
    };
    const span = `median of the rounds of orders ${ordersOf(late)} against those of orders ${ordersOf(early)}`;
    const every = (figure: (r: Round) => number, digits: number) =>
      rounds.map((r) => figure(r).toFixed(digits)).join(', ');
    const measures = [
      measure(
        'scale-p95-per-order',
        'ms',
        median(late, p95),
        median(early, p95),
        `95th percentile of the latency of each handling (placing an order, then each delivery to process-order and payment-handler; ${concurrency} at a time), rounds of ${sizes.perRound} orders; ${span}; every round: ${every(p95, 1)} ms; wall time per order ${median(late, perOrder).toFixed(2)} against ${median(early, perOrder).toFixed(2)} ms (every round: ${every(perOrder, 2)})`,
      ),
      measure(
        'scale-cpu-per-order',
        'ms',
        median(late, cpuPerOrder),
        median(early, cpuPerOrder),
        `CPU time (/proc) of the process that runs the handlers (the functions' share) per order: the cost per order that noise on the machine moves least; ${span}; every round: ${every(cpuPerOrder, 2)} ms`,
      ),
    ];
    if (rounds.every((r) => Number.isFinite(r.databaseCpuMs))) {
      measures.push(
        measure(
          'scale-db-cpu-per-order',
          'ms',
          median(late, databaseCpuPerOrder),
          median(early, databaseCpuPerOrder),
          `CPU time (/proc) of PostgreSQL, its postmaster and every child (the backends, WAL writer, checkpointer, autovacuum), per order${postgres.pid === undefined ? ', a server shared with other work' : ''}; ${span}; every round: ${every(databaseCpuPerOrder, 2)} ms`,
        ),
      );
    } else log('scale: PostgreSQL is not a local process: scale-db-cpu-per-order is not measured');
    measures.push(
      measure(
        'scale-statements-per-order',
        'statements',
        median(late, statementsPerOrder),
        median(early, statementsPerOrder),
        `SQL statements the handlers sent per order (counted by a kysely plugin; BEGIN and COMMIT not counted); ${span}; every round: ${every(statementsPerOrder, 1)}; by sender, the last round: ${senders.map((sender) => `${sender} ${(last.statementsBySender[sender] / last.orders).toFixed(2)}`).join(', ')}`,
      ),
      measure(
        'scale-rows',
        'rows',
        last.keptRows,
        first.keptRows,
        `rows of ${retainedTables.join(', ')} after a day passed and retention ran (windows: sent outbox rows ${windowDays.sentOutbox} days, claims ${windowDays.claims}, saga history ${windowDays.sagaHistory}, keys 1; ${sizes.perRound} orders a day): the last day (orders to ${placed}) against the first (to ${sizes.warmup + sizes.perRound}); every day: ${every((r) => r.keptRows, 0)}; ${rounds.reduce((n, r) => n + r.purged, 0)} rows purged in all; orders (kept) ${orderRows[0]!.n}`,
      ),
      measure(
        'scale-bytes',
        'MiB',
        mib(last.keptBytes),
        mib(first.keptBytes),
        `size of those tables with their indexes (pg_total_relation_size) at the same moments; VACUUM after each retention, as autovacuum; every day: ${every((r) => mib(r.keptBytes), 2)} MiB`,
      ),
      measure(
        'scale-purge-per-row',
        'us',
        median(late, perRow),
        median(early, perRow),
        `retention's wall time per row deleted (batches of 500); ${span}; every round: ${every(perRow, 1)} us`,
      ),
    );
    return measures;
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
