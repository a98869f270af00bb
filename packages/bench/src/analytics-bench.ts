import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  type AuditableWarehouse,
  analyticsQueries,
  createAnalyticsLoadHandler,
  createDuckDbWarehouse,
  dedupViewName,
  type Warehouse,
} from '@orders/analytics';
import {
  createEvent,
  type DeadLetters,
  type DomainEvent,
  defaultLegacyCurrency,
  type EventOrigin,
  paymentIdOf,
} from '@orders/events';
import { seededRandom } from '@orders/local-stack';
import { createLogger } from '@orders/platform';
import { createConsumer } from '@orders/runtime';
import { driveConcurrently, pushedCloudEvent, runCleanup } from './event-handling-bench';
import { type BenchContext, type Measure, measure } from './measure';

interface Sizes {
  /** Events delivered one by one to the loader (and loaded in one batch by the baseline). */
  loaded: number;
  /** Events in the warehouse the queries run on. */
  queried: number;
  /** Timed runs of each query; the median counts. */
  runs: number;
}

const fullSizes: Sizes = { loaded: 2_000, queried: 100_000, runs: 5 };
const quickSizes: Sizes = { loaded: 40, queried: 1_000, runs: 1 };

/** The emulator pushes at most two messages at a time to a subscription (docs/operating.md, "Local topology"). */
const pushConcurrency = 2;

/**
 * Measure 5: rows/s loaded through analytics-loader's consumer (decode, the load handler, the
 * DuckDB warehouse adapter, one delivery per event, at the emulator's push concurrency) into
 * a fresh DuckDB file, against the same rows loaded by the same adapter in one batch; then
 * each analytics query on generated events (a realistic mix over a week), against a plain
 * `count(*)` of the events table on the same connection.
 */
export async function benchAnalytics(context: BenchContext): Promise<Measure[]> {
  const { quick, log } = context;
  const sizes = quick ? quickSizes : fullSizes;
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const dir = await mkdtemp(join(tmpdir(), 'bench-analytics-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const open = async (name: string) => {
      const warehouse = createDuckDbWarehouse({ path: join(dir, `${name}.duckdb`) });
      cleanup.push(() => warehouse.close());
      await warehouse.ensureSchema();
      return warehouse;
    };

    const events = generateAnalyticsEvents(sizes.loaded, { seed: 1 });
    const delivered = async (concurrency: number) => {
      const warehouse = await open(`loaded-c${concurrency}`);
      const consumer = loaderConsumer(warehouse);
      const pushes = events.map((event) =>
        pushedCloudEvent(event, {
          projectId: 'bench-analytics',
          topic: 'analytics',
          subscription: 'analytics-loader',
        }),
      );
      const run = await driveConcurrently(pushes, concurrency, consumer);
      await checkLoaded(warehouse, events);
      return events.length / (run.elapsedMs / 1000);
    };
    log(`analytics: loading ${events.length} events one delivery each`);
    const loadRate = await delivered(pushConcurrency);
    const loadRateC16 = await delivered(16);
    const batchWarehouse = await open('batch');
    const batchStarted = performance.now();
    await batchWarehouse.load(events);
    const batchRate = events.length / ((performance.now() - batchStarted) / 1000);
    await checkLoaded(batchWarehouse, events);
    log(
      `analytics: ${loadRate.toFixed(0)} rows/s delivered (c16 ${loadRateC16.toFixed(0)}), ${batchRate.toFixed(0)} rows/s in one batch`,
    );

    const queried = generateAnalyticsEvents(sizes.queried, { seed: 2 });
    const queryWarehouse = await open('queried');
    const bulkStarted = performance.now();
    for (let start = 0; start < queried.length; start += 10_000) {
      await queryWarehouse.load(queried.slice(start, start + 10_000));
    }
    log(
      `analytics: ${queried.length} events loaded in ${((performance.now() - bulkStarted) / 1000).toFixed(1)} s for the queries`,
    );
    // The adapter's own path, opening the file per query as `pnpm analytics` does.
    const throughAdapter = new Map<string, number>();
    for (const query of analyticsQueries) {
      const started = performance.now();
      await queryWarehouse.query(query.name);
      throughAdapter.set(query.name, performance.now() - started);
    }
    await queryWarehouse.close();

    const timings = await timeQueries(join(dir, 'queried.duckdb'), sizes.runs);
    return [
      measure(
        'analytics-load',
        'rows/s',
        loadRate,
        batchRate,
        `${events.length} events, one push each through the analytics-loader consumer at concurrency ${pushConcurrency} (the emulator's); baseline: the same rows in one load() of the DuckDB adapter`,
      ),
      measure(
        'analytics-load-c16',
        'rows/s',
        loadRateC16,
        batchRate,
        'as analytics-load, at concurrency 16',
      ),
      ...analyticsQueries.map((query) =>
        measure(
          `analytics-query-${query.name}`,
          'ms',
          timings.queries.get(query.name)!,
          timings.count,
          `${queried.length} events; median of ${sizes.runs}; baseline: select count(*) from events; through warehouse.query() (opens the file): ${throughAdapter.get(query.name)!.toFixed(1)} ms`,
        ),
      ),
    ];
  } finally {
    await runCleanup(cleanup, log);
  }
}

/** analytics-loader's consumer (functions/analytics-loader/src/index.ts) on `warehouse`. */
function loaderConsumer(warehouse: Warehouse) {
  return createConsumer({
    name: 'analytics-loader',
    topic: 'analytics',
    projectId: 'bench-analytics',
    deadLetters: refuseDeadLetters,
    // Formatted, then dropped: stdout is the report's.
    logger: createLogger({ level: 'info', write: () => {} }),
    legacyCurrency: defaultLegacyCurrency,
    handle: createAnalyticsLoadHandler(warehouse),
  });
}

/** Every generated event is valid: a dead letter is a failure of the benchmark. */
const refuseDeadLetters: DeadLetters = {
  send: async ({ reason }) => {
    throw new Error(`the analytics benchmark dead-lettered an event: ${reason}`);
  },
};

async function checkLoaded(warehouse: AuditableWarehouse, events: readonly DomainEvent[]) {
  const audit = await warehouse.auditEvents();
  const rows = audit.reduce((sum, entry) => sum + entry.rawRows, 0);
  const ids = new Set(events.map((event) => event.id)).size;
  if (rows !== events.length || audit.length !== ids || !audit.every((e) => e.exactlyOnce)) {
    throw new Error(
      `the warehouse holds ${rows} rows of ${audit.length} ids, expected ${events.length} rows of ${ids}`,
    );
  }
}

/** Median time (ms) of each analytics query and of a plain count, on one open connection. */
async function timeQueries(path: string, runs: number) {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    try {
      const time = async (sqlText: string) => {
        await connection.runAndReadAll(sqlText); // warm: the first run reads from disk
        const samples: number[] = [];
        for (let run = 0; run < runs; run++) {
          const started = performance.now();
          await connection.runAndReadAll(sqlText);
          samples.push(performance.now() - started);
        }
        return median(samples);
      };
      const queries = new Map<string, number>();
      for (const query of analyticsQueries) {
        queries.set(query.name, await time(query.duckdb(dedupViewName('events'))));
      }
      return { queries, count: await time('SELECT count(*) FROM events') };
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const catalogPrices = [
  ['TEA-001', 1299],
  ['TEA-002', 899],
  ['MUG-001', 1850],
  ['KETTLE-01', 6400],
  ['POT-001', 4500],
  ['FILTER-10', 350],
  ['GIFT-BOX', 3900],
] as const;

/**
 * `count` events of orders placed over `days` UTC days before `end`, as the saga emits them:
 * about 85% confirmed, 8% declined (three reasons), 5% out of stock, 2% timed out with a
 * voided payment, 1% of events delivered twice (same id), and the last orders still pending.
 */
export function generateAnalyticsEvents(
  count: number,
  {
    days = 7,
    end = new Date('2026-11-01T00:00:00Z'),
    seed = 1,
  }: { days?: number; end?: Date; seed?: number } = {},
): DomainEvent[] {
  const next = seededRandom(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const events: DomainEvent[] = [];
  const span = days * 24 * 60 * 60 * 1000;
  while (events.length < count) {
    const orderId = randomUUID();
    const correlationId = randomUUID();
    let at = end.getTime() - span + Math.floor(next() * span);
    let cause: DomainEvent | undefined;
    const origin = (source: string): EventOrigin => {
      at += 20 + Math.floor(next() * 400);
      return { source, correlationId, causationId: cause?.id ?? null, occurredAt: new Date(at) };
    };
    const order: DomainEvent[] = [];
    const emit = (event: DomainEvent) => {
      order.push(event);
      cause = event;
      return event;
    };
    const currency = next() < 0.8 ? 'EUR' : 'USD';
    const lines = 1 + Math.floor(next() * 3);
    const items = Array.from(new Set(Array.from({ length: lines }, () => pick(catalogPrices)))).map(
      ([sku, unitPriceMinor]) => ({ sku, quantity: 1 + Math.floor(next() * 3), unitPriceMinor }),
    );
    const totalMinor = items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0);
    const customerId = `cust-${Math.floor(next() * 5_000)}`;
    emit(
      createEvent(
        'OrderPlaced',
        { orderId, customerId, currency, items, totalMinor },
        origin('place-order'),
      ),
    );
    const outcome = next();
    if (outcome < 0.05) {
      emit(
        createEvent('OrderCancelled', { orderId, reason: 'out_of_stock' }, origin('process-order')),
      );
    } else {
      const paymentId = paymentIdOf(orderId);
      const amount = { amountMinor: totalMinor, currency };
      emit(
        createEvent(
          'PaymentRequested',
          { orderId, paymentId, customerId, ...amount },
          origin('process-order'),
        ),
      );
      if (outcome < 0.13) {
        const reason = pick(['declined', 'insufficient_funds', 'fraud_suspected'] as const);
        emit(
          createEvent('PaymentFailed', { orderId, paymentId, reason }, origin('payment-handler')),
        );
        emit(
          createEvent(
            'OrderCancelled',
            { orderId, reason: 'payment_declined' },
            origin('process-order'),
          ),
        );
      } else if (outcome < 0.15) {
        at += 120_000;
        emit(
          createEvent(
            'RefundRequested',
            { orderId, paymentId, ...amount, reason: 'payment_timeout' },
            origin('process-order'),
          ),
        );
        emit(
          createEvent(
            'OrderCancelled',
            { orderId, reason: 'payment_timeout' },
            origin('process-order'),
          ),
        );
        emit(
          createEvent(
            'PaymentFailed',
            { orderId, paymentId, reason: 'voided' },
            origin('payment-handler'),
          ),
        );
      } else {
        emit(
          createEvent(
            'PaymentSucceeded',
            { orderId, paymentId, providerRef: `ch_${orderId.slice(0, 8)}`, ...amount },
            origin('payment-handler'),
          ),
        );
        emit(
          createEvent('OrderConfirmed', { orderId, totalMinor, currency }, origin('process-order')),
        );
      }
    }
    for (const event of order) {
      events.push(event);
      // At-least-once delivery: now and then the same event arrives twice.
      if (next() < 0.01) events.push(event);
    }
  }
  return events.slice(0, count);
}
