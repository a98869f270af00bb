import { setTimeout as sleep } from 'node:timers/promises';
import { createDb } from '@orders/db';
import type { DeadLetters, DomainEvent } from '@orders/events';
import { startPostgres, testDatabase } from '@orders/local-stack';
import { createOutbox } from '@orders/messaging';
import {
  createOrderSagaEngine,
  orderSagaConfigSchema,
  orderSagaHandler,
  orderSagaOptions,
} from '@orders/ordering';
import { createLogger } from '@orders/platform';
import { createConsumer, parseConfig } from '@orders/runtime';
import { sql } from 'kysely';
import pg from 'pg';
import {
  type ConcurrentRun,
  driveConcurrently,
  placeOrders,
  pushedCloudEvent,
  runCleanup,
  summary,
  writeBaselineRows,
} from './event-handling-bench';
import { type BenchContext, type Measure, measure } from './measure';

/** How many distinct skus the load touches, one variant each. */
const skuCounts = [1, 6, 100] as const;
type SkuCount = (typeof skuCounts)[number];
const concurrency = 16;

interface Sizes {
  warmup: number;
  perRound: number;
  rounds: number;
}

const fullSizes: Sizes = { warmup: 40, perRound: 400, rounds: 2 };
const quickSizes: Sizes = { warmup: 2, perRound: 16, rounds: 1 };

/** The skus of a variant: its own products, so that no variant leaves dead rows to another. */
const skusOf = (count: SkuCount) =>
  Array.from({ length: count }, (_, i) => `HOT${count}-${String(i).padStart(3, '0')}`);

/** What sampling pg_stat_activity saw while a run went on. */
interface LockWaits {
  samples: number;
  /** Backends of the bench database waiting on a lock, summed over the samples. */
  waiting: number;
  /** Backends running a statement (waiting or not), summed over the samples. */
  active: number;
  /** The lock wait events seen (e.g. transactionid, tuple), with how many times. */
  events: Map<string, number>;
}

/** One side (the handler or the raw-SQL transaction) at one sku count. */
interface Side {
  runs: ConcurrentRun[];
  locks: LockWaits;
}

/**
 * `hot-products`: process-order's consumer in-process, as `event-handling` drives it (16
 * concurrent OrderPlaced pushes, a bus that records, a durable PostgreSQL), on orders of one
 * line each whose skus are drawn from 1, 6 or 100 products; beside each, the raw-SQL
 * transaction of `event-handling` on the same skus. While each run goes on, pg_stat_activity
 * is sampled for the backends that wait on a lock: on a hot sku, the stock row.
 */
export async function benchHotProducts(context: BenchContext): Promise<Measure[]> {
  const { quick, log, env } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const postgres = await startPostgres({ durable: true, env, log });
    cleanup.push(() => postgres.stop());
    const database = await testDatabase('bench_hot_products', { DATABASE_URL: postgres.url });
    cleanup.push(() => database.drop());
    await database.db
      .insertInto('products')
      .values(
        skuCounts.flatMap(skusOf).map((sku) => ({
          sku,
          name: `hot product ${sku}`,
          price_minor: 1_250,
          currency: 'EUR',
          stock: 0,
        })),
      )
      .execute();
    const projectId = 'bench-hot-products';
    const config = parseConfig(orderSagaConfigSchema, {
      DATABASE_URL: database.url,
      GOOGLE_CLOUD_PROJECT: projectId,
    });
    const poolSize = config.DB_POOL_SIZE;
    const db = createDb(database.url, { maxConnections: poolSize });
    cleanup.push(() => db.destroy());
    const failures: unknown[] = [];
    const published = new Set<string>();
    const outbox = createOutbox(
      db,
      {
        publish: async (copies) => {
          for (const copy of copies) published.add(copy.event.id);
          return copies.map((copy) => ({ ...copy, published: true }));
        },
      },
      (error) => failures.push(error),
    );
    const deadLetters: DeadLetters = {
      send: async ({ reason }) => {
        failures.push(new Error(`dead-lettered: ${reason}`));
      },
    };
    const consumer = createConsumer({
      name: 'process-order',
      topic: 'order-saga',
      projectId,
      outbox,
      deadLetters,
      // Log lines formatted at the function's level, then dropped, as event-handling does.
      logger: createLogger({ level: config.LOG_LEVEL, write: () => {} }),
      legacyCurrency: config.LEGACY_CURRENCY,
      handle: orderSagaHandler(createOrderSagaEngine(db, orderSagaOptions(config))),
    });
    const baselinePool = new pg.Pool({ connectionString: database.url, max: poolSize });
    baselinePool.on('error', (error) => log(`hot-products: baseline pool: ${error.message}`));
    cleanup.push(() => baselinePool.end());
    const sampler = new pg.Client({ connectionString: database.url });
    await sampler.connect();
    cleanup.push(() => sampler.end());

    const perSide = sizes.warmup + sizes.rounds * sizes.perRound;
    log(`hot-products: placing ${2 * perSide} orders of one line for each of ${skuCounts} skus`);
    const queues = new Map<
      SkuCount,
      { handler: DomainEvent<'OrderPlaced'>[]; baseline: DomainEvent<'OrderPlaced'>[] }
    >();
    const handled: DomainEvent<'OrderPlaced'>[] = [];
    for (const count of skuCounts) {
      const skus = skusOf(count);
      const placed = await placeOrders(database, 2 * perSide, (i) => [skus[i % count]!]);
      handled.push(...placed.slice(0, perSide));
      queues.set(count, { handler: placed.slice(0, perSide), baseline: placed.slice(perSide) });
    }
    const push = (event: DomainEvent<'OrderPlaced'>) =>
      consumer(
        pushedCloudEvent(event, { projectId, topic: 'order-saga', subscription: 'process-order' }),
      );
    const baselineWrite = (event: DomainEvent<'OrderPlaced'>) =>
      writeBaselineRows(baselinePool, event);
    const sides = new Map<SkuCount, { handler: Side; baseline: Side }>();
    const emptySide = (): Side => ({ runs: [], locks: noLockWaits() });
    for (const count of skuCounts)
      sides.set(count, { handler: emptySide(), baseline: emptySide() });

    for (const count of skuCounts) {
      const queue = queues.get(count)!;
      await driveConcurrently(queue.handler.splice(0, sizes.warmup), concurrency, push);
      await driveConcurrently(queue.baseline.splice(0, sizes.warmup), concurrency, baselineWrite);
    }
    // Rounds and sides in turns, so that a burst of other work on the machine hits every one.
    for (let round = 1; round <= sizes.rounds; round++) {
      const line: string[] = [];
      for (const count of skuCounts) {
        const queue = queues.get(count)!;
        const side = sides.get(count)!;
        for (const [name, work] of [
          ['handler', push],
          ['baseline', baselineWrite],
        ] as const) {
          const sampling = sampleLockWaits(sampler, side[name].locks);
          let run: ConcurrentRun;
          try {
            run = await driveConcurrently(queue[name].splice(0, sizes.perRound), concurrency, work);
          } finally {
            await sampling.stop();
          }
          side[name].runs.push(run);
          line.push(`${count} skus ${name} ${summary([run]).rate.toFixed(0)}/s`);
        }
      }
      log(`hot-products round ${round}: ${line.join(', ')}`);
    }
    if (failures.length > 0) {
      throw new Error(
        `${failures.length} failures while handling, the first: ${String(failures[0])}`,
        {
          cause: failures[0],
        },
      );
    }
    await checkAwaitingPayment(db, handled, published.size);

    const rateOf = (count: SkuCount, name: 'handler' | 'baseline') =>
      summary(sides.get(count)![name].runs);
    const waitsOf = (count: SkuCount, name: 'handler' | 'baseline') =>
      describeLockWaits(sides.get(count)![name].locks);
    const hot = rateOf(1, 'handler');
    const hotRaw = rateOf(1, 'baseline');
    const six = rateOf(6, 'handler');
    const spread = rateOf(100, 'handler');
    const spreadRaw = rateOf(100, 'baseline');
    const shape = `orders of one line, the i-th on the (i mod n)-th of n skus; process-order's consumer in-process, ${concurrency} concurrent, pool ${poolSize}, a bus that records; ${sizes.rounds} rounds of ${sizes.perRound} per side in turns`;
    const waitingShare = (count: SkuCount) => {
      const locks = sides.get(count)!.handler.locks;
      return locks.samples === 0 ? 0 : locks.waiting / locks.samples;
    };
    return [
      measure(
        'event-handling-skus-1',
        'events/s',
        hot.rate,
        spread.rate,
        `one hot product: every order on the same sku; baseline: the same handler on 100 skus; ${shape}; p99 ${hot.p99.toFixed(1)} ms against ${spread.p99.toFixed(1)} ms; the stock row is held from the reservation to the commit, one transaction at a time: ${(1000 / hot.rate).toFixed(2)} ms each (1 / the rate); lock waits: ${waitsOf(1, 'handler')}`,
      ),
      measure(
        'event-handling-skus-6',
        'events/s',
        six.rate,
        spread.rate,
        `6 skus; baseline: the same handler on 100 skus; p99 ${six.p99.toFixed(1)} ms; lock waits: ${waitsOf(6, 'handler')}`,
      ),
      measure(
        'event-handling-skus-100',
        'events/s',
        spread.rate,
        spreadRaw.rate,
        `100 skus; baseline: event-handling's raw-SQL transaction (one pg transaction of one statement writing the same rows) on the same 100 skus; p99 ${spread.p99.toFixed(1)} ms against ${spreadRaw.p99.toFixed(1)} ms; lock waits: ${waitsOf(100, 'handler')}; the raw SQL's: ${waitsOf(100, 'baseline')}`,
      ),
      measure(
        'event-handling-skus-1-vs-raw-sql',
        'events/s',
        hot.rate,
        hotRaw.rate,
        `one hot product, the handler against the raw-SQL transaction on the same sku (it holds the row for one statement and the commit: ${(1000 / hotRaw.rate).toFixed(2)} ms each); the raw SQL's lock waits: ${waitsOf(1, 'baseline')}`,
      ),
      measure(
        'event-handling-skus-1-lock-waiters',
        'backends',
        waitingShare(1),
        poolSize,
        `backends of the bench's database waiting on a lock (pg_stat_activity, wait_event_type Lock), on average over the samples of the 1-sku runs, against the pool's ${poolSize} connections (the ratio: the share of the pool that waits); 6 skus: ${waitingShare(6).toFixed(2)}, 100 skus: ${waitingShare(100).toFixed(2)}`,
      ),
    ];
  } finally {
    await runCleanup(cleanup, log);
  }
}

function noLockWaits(): LockWaits {
  return { samples: 0, waiting: 0, active: 0, events: new Map() };
}

/**
 * Samples pg_stat_activity on `client` (a connection of its own, not the pools') until
 * stopped, adding to `into`: the backends of its database that wait on a lock, and why.
 */
function sampleLockWaits(client: pg.Client, into: LockWaits): { stop: () => Promise<void> } {
  let running = true;
  const stopped = (async () => {
    while (running) {
      const { rows } = await client.query<{ wait_event_type: string | null; wait_event: string }>(
        `select wait_event_type, wait_event from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid() and state = 'active'`,
      );
      into.samples++;
      into.active += rows.length;
      for (const row of rows) {
        if (row.wait_event_type !== 'Lock') continue;
        into.waiting++;
        into.events.set(row.wait_event, (into.events.get(row.wait_event) ?? 0) + 1);
      }
      await sleep(5);
    }
  })();
  return {
    stop: () => {
      running = false;
      return stopped;
    },
  };
}

function describeLockWaits(locks: LockWaits): string {
  if (locks.samples === 0) return 'not sampled';
  const events = [...locks.events].map(([event, n]) => `${event} ${n}`).join(', ') || 'none';
  return `${(locks.waiting / locks.samples).toFixed(2)} of ${(locks.active / locks.samples).toFixed(2)} active backends waiting on a lock on average (${locks.samples} samples; waits seen: ${events})`;
}

/** Every order the handler was given moved to AWAITING_PAYMENT and its event was published. */
async function checkAwaitingPayment(
  db: ReturnType<typeof createDb>,
  handled: readonly DomainEvent<'OrderPlaced'>[],
  published: number,
): Promise<void> {
  const ids = handled.map((event) => event.data.orderId);
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from orders
    where id = any(${ids}::uuid[]) and status = 'AWAITING_PAYMENT'`.execute(db);
  if (rows[0]!.n !== handled.length || published !== handled.length) {
    throw new Error(
      `${rows[0]!.n} orders awaiting payment and ${published} events published for ${handled.length} handled`,
    );
  }
}
