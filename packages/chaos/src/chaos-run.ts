import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message } from '@google-cloud/pubsub';
import { createDuckDbWarehouse } from '@orders/analytics';
import { createDb } from '@orders/db';
import { functions as declaredFunctions, type FunctionName } from '@orders/deployment';
import { deadLetterTopic } from '@orders/events';
import { checkInvariants, type WarehouseCounts, warehouseCountsOf } from '@orders/invariants';
import { type LocalStack, lineSink, pullMessages, startLocalStack } from '@orders/local-stack';
import { createPublisher, createPubSubBus, createPubSubClient } from '@orders/messaging';
import { forEachConcurrently, seededShare } from '@orders/platform';
import { sql } from 'kysely';
import { startDeliveryProxy } from './delivery-proxy';
import {
  injectConnectionKills,
  injectCrashes,
  injectPublishRefusals,
  injectRepublishes,
  type PoisonMessage,
  poisonMessage,
} from './fault-injectors';
import { type FaultCounts, noFaults } from './fault-plan';
import { correlationViolations } from './log-check';
import { type PlacedOrder, placeOrder, plannedOrder, type RefusedOrder } from './order-load';

export interface ChaosOptions {
  orders: number;
  seed: string;
  /** Orders placed at once, at most. */
  concurrency: number;
  /** Orders placed per second: a steady load the stack can keep up with, not a burst. */
  rate: number;
  /** Aborting stops the run where it is; the stack is stopped, and runChaos rejects. */
  signal?: AbortSignal;
  /** Passed to the stack: DATABASE_URL and PUBSUB_EMULATOR_HOST there are reused. */
  env: NodeJS.ProcessEnv;
  projectId: string;
  /** Progress lines. */
  log: (line: string) => void;
  /** How long the drain may go without progress before the checks run anyway. */
  drainTimeoutMs: number;
  /** Where the functions' log lines go, to look a violation's correlation id up. */
  logFile: string;
}

export interface ChaosViolation {
  /** `invariant N` (docs/architecture.md, "The invariants and their checker"), `poison` or `intake`. */
  check: string;
  orderId?: string;
  correlationId?: string;
  detail: string;
}

export interface ChaosReport {
  seed: string;
  orders: number;
  faults: FaultCounts;
  confirmed: number;
  cancelled: number;
  needsAttention: number;
  pending: number;
  deadLettered: number;
  violations: ChaosViolation[];
  durationMs: number;
}

const allFunctions = Object.keys(declaredFunctions) as FunctionName[];
/**
 * Short, so that a late result (refused until 3 s past it, about one delivery a second)
 * stays well within a local subscription's delivery attempts; long enough that a crash or a
 * killed connection does not time an order out by itself.
 */
const paymentTimeoutSeconds = 15;
/**
 * Delivery attempts of every subscription: fewer than a local stack's default (100, about
 * 100 s at the emulator's one redelivery a second) so that a consumer outage outlasts them
 * within a run, and Pub/Sub dead-letters what it could not deliver; still well above what a
 * late result (refused for 18 s) or a function's restart costs a message.
 */
const deliveryAttempts = 30;
/** How long the one consumer outage of a run lasts: longer than its delivery attempts. */
const outageMs = 45_000;
/** The consumers an outage may take down: their losses the system repairs by itself. */
const outageTopics = ['order-saga', 'payments'] as const;

/**
 * One chaos run: the whole stack with every delivery passing through a fault-injecting
 * proxy, N orders placed while functions crash, connections die, events are published
 * again and poison is mixed in; then faults stop, the stack drains (housekeeping ticks every
 * second), and every invariant is checked against the database, the warehouse and the DLQs.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const { seed, log } = options;
  const faults = noFaults();
  const workDir = await mkdtemp(join(tmpdir(), 'orders-chaos-'));
  const warehousePath = join(workDir, 'warehouse.duckdb');
  const logLines: string[] = [];
  await mkdir(dirname(options.logFile), { recursive: true });
  const logFile = createWriteStream(options.logFile);
  const collect = lineSink((line) => {
    logFile.write(`${line}\n`);
    if (line.includes('"fault":"crash-before-publish"')) faults['crash-before-publish'] += 1;
    if (line.includes('{')) logLines.push(line);
  });
  const proxy = await startDeliveryProxy({
    seed,
    rates: { duplicate: 0.015, delay: 0.015, ackLost: 0.015, lateResult: 0.05 },
    lateHoldMs: (paymentTimeoutSeconds + 3) * 1000,
    onFault: (kind) => {
      faults[kind] += 1;
    },
  });
  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({
      projectId: options.projectId,
      functions: allFunctions,
      durable: false,
      env: {
        ...options.env,
        LOG_LEVEL: 'info',
        DUCKDB_PATH: warehousePath,
        SANDBOX_LATENCY_MS: '5',
        // A late charge lands after its order's payment deadline: the void must win or refund.
        SANDBOX_LATE_LANDING_MS: String((paymentTimeoutSeconds + 5) * 1000),
        // Longer than OUTBOX_RELAY_MIN_AGE_MS: the relay must not race the writer.
        SANDBOX_SLOW_CALL_MS: '3000',
        OUTBOX_RELAY_MIN_AGE_MS: '2000',
        // A refused topic is tried again soon once it accepts: the drain need not wait long.
        OUTBOX_RELAY_MAX_BACKOFF_SECONDS: '10',
        // An order whose OrderPlaced was dead-lettered (the outage) is driven again soon.
        STALLED_ORDER_SECONDS: '30',
        PAYMENT_TIMEOUT_SECONDS: String(paymentTimeoutSeconds),
        // Six requests span two minutes, longer than a consumer outage and the delivery
        // attempts after it: a refund asked during an outage is asked again after.
        REFUND_TIMEOUT_SECONDS: '20',
        MAX_REFUND_REQUESTS: '6',
        IDEMPOTENCY_LOCK_SECONDS: '3',
        // Its customers keep several orders open at once: the cap is not what chaos tests.
        MAX_OPEN_ORDERS_PER_CUSTOMER: '1000',
        FAULT_CRASH_BEFORE_PUBLISH_RATE: '0.01',
        FAULT_SEED: seed,
      },
      pushVia: proxy.url,
      pubsubProxy: true,
      maxDeliveryAttempts: deliveryAttempts,
      housekeepingIntervalMs: 1_000,
      functionStdout: collect,
      functionStderr: collect,
      log,
    });
    if (!stack.auth) {
      throw new Error('AUTH_ISSUER is set: unset it (chaos signs its tokens with its own issuer)');
    }
    for (const name of allFunctions) {
      const trigger = declaredFunctions[name].trigger;
      if (trigger.kind === 'topic') proxy.route(trigger.topic, stack.functions[name]!);
    }
    return await loadDrainAndCheck(options, stack, {
      faults,
      started,
      warehousePath,
      logLines,
      calm: proxy.calm,
      outage: proxy.outage,
    });
  } finally {
    await stack?.stop();
    await proxy.close();
    await new Promise((resolve) => logFile.end(resolve));
    await rm(workDir, { recursive: true, force: true });
  }
}

async function loadDrainAndCheck(
  options: ChaosOptions,
  stack: LocalStack,
  run: {
    faults: FaultCounts;
    started: number;
    warehousePath: string;
    logLines: string[];
    calm(): void;
    outage(topic: string, durationMs: number): void;
  },
): Promise<ChaosReport> {
  const { seed, log } = options;
  const { faults } = run;
  const url = new URL(stack.databaseUrl);
  url.searchParams.set('application_name', 'chaos');
  const db = createDb(url.toString());
  const pubsub = createPubSubClient({
    projectId: stack.projectId,
    emulatorHost: stack.pubsubEmulatorHost,
  });
  try {
    // Plenty of everything but RARE-001, so only the orders meant to run out of stock do.
    await db.updateTable('products').set({ stock: 1_000_000 }).where('stock', '>', 0).execute();
    const initialStock = Object.fromEntries(
      (await db.selectFrom('products').select(['sku', 'stock']).execute()).map((p) => [
        p.sku,
        p.stock,
      ]),
    );

    // 1. The load, with the faults injected alongside.
    const loadMs = (options.orders * 1000) / options.rate;
    const loadOver = new AbortController();
    const injector = { seed, faults, signal: loadOver.signal };
    const injectors = Promise.all([
      injectCrashes({
        ...injector,
        meanIntervalMs: 4_000,
        functions: allFunctions,
        pidOf: (name) => stack.functionPid(name),
      }),
      injectConnectionKills({ ...injector, meanIntervalMs: 2_000, db }),
      injectPublishRefusals({
        ...injector,
        // About once a minute, and at least once in a short run.
        meanIntervalMs: Math.min(45_000, loadMs / 2),
        durationMs: 12_000,
        proxy: stack.pubsubProxy!,
      }),
      injectRepublishes({
        ...injector,
        meanIntervalMs: 2_000,
        db,
        bus: createPubSubBus(
          createPublisher({ projectId: stack.projectId, emulatorHost: stack.pubsubEmulatorHost }),
        ),
      }),
    ]);
    const placed: PlacedOrder[] = [];
    const refused: RefusedOrder[] = [];
    const poison: PoisonMessage[] = [];
    const loadStarted = Date.now();
    // One consumer goes down once, in the second half of the load, for longer than its
    // delivery attempts: the orders placed before it meet every other fault first.
    const outageTopic =
      outageTopics[Math.floor(seededShare(seed, 'outage-topic') * outageTopics.length)]!;
    let outageStarted = false;
    const startOutage = () => {
      if (outageStarted) return;
      outageStarted = true;
      log(`the consumer of ${outageTopic} is down for ${outageMs / 1000} s`);
      run.outage(outageTopic, outageMs);
    };
    const outageTimer = setTimeout(
      startOutage,
      (0.5 + 0.3 * seededShare(seed, 'outage-at')) * loadMs,
    );
    try {
      await forEachConcurrently(
        Array.from({ length: options.orders }, (_, index) => index),
        options.concurrency,
        async (index) => {
          const due = loadStarted + (index * 1000) / options.rate - Date.now();
          if (due > 0) await sleep(due);
          options.signal?.throwIfAborted();
          if (seededShare(seed, 'poison', index) < 0.04) {
            const message = poisonMessage(seed, poison.length);
            poison.push(message);
            await pubsub
              .topic(message.topic)
              .publishMessage({ data: message.data, attributes: message.attributes });
            faults.poison += 1;
          }
          const order = plannedOrder(seed, index, faults);
          const outcome = await placeOrder(stack.functions['place-order']!, order, {
            giveUpAfterMs: 120_000,
            token: await stack.auth!.token(order.body.customerId),
          });
          if ('orderId' in outcome) placed.push({ index, ...outcome });
          else refused.push({ index, correlationId: order.correlationId, detail: outcome.refused });
          if ((placed.length + refused.length) % 100 === 0)
            log(`placed ${placed.length} of ${options.orders}`);
        },
      );
    } finally {
      loadOver.abort();
      clearTimeout(outageTimer);
      await injectors;
    }
    startOutage();
    run.calm();
    log(`load done: ${placed.length} placed, ${refused.length} refused; draining`);

    // 2. The drain: housekeeping ticks every second until the system is quiet.
    const quiet = await drain(db, run.warehousePath, options.drainTimeoutMs, options.signal);
    log(quiet ? 'quiet' : `no progress for ${options.drainTimeoutMs} ms; checking anyway`);

    // 3. The checks.
    const letters = await drainDeadLetters(pubsub);
    const violations: ChaosViolation[] = refused.map((order) => ({
      check: 'intake',
      correlationId: order.correlationId,
      detail: `order ${order.index} refused: ${order.detail}`,
    }));
    // Dead-lettered by its consumer (with a reason) or, after its delivery attempts, by Pub/Sub.
    const poisonSeen = new Set(
      letters.map(({ topic, message }) => `${topic}:${message.attributes.event_id}`),
    );
    for (const message of poison) {
      if (!poisonSeen.has(`${message.topic}:${message.eventId}`)) {
        violations.push({
          check: 'poison',
          correlationId: message.attributes.correlation_id,
          detail: `${message.kind} message ${message.eventId} on ${message.topic} is not on ${deadLetterTopic(message.topic)}`,
        });
      }
    }
    const orderLetters = letters.filter(({ message }) => !message.attributes.chaos_poison);
    for (const { topic, message } of orderLetters) {
      const { event_type, correlation_id, dlq_reason } = message.attributes;
      log(
        `dead letter of an order on ${topic}: ${event_type} (correlation ${correlation_id}): ${dlq_reason ?? 'delivery attempts exhausted'}`,
      );
    }
    const found = await checkInvariants({
      db,
      initialStock,
      deadLetters: orderLetters.map(({ topic, message }) => ({
        topic,
        data: message.data,
        attributes: message.attributes,
      })),
      warehouse: await warehouseCounts(run.warehousePath),
    });
    violations.push(
      ...found.map(({ invariant, ...rest }) => ({ check: `invariant ${invariant}`, ...rest })),
    );
    violations.push(
      ...(await correlationViolations(db, run.logLines)).map((v) => ({
        check: 'invariant 7',
        ...v,
      })),
    );

    const { rows } = await sql<{ status: string; n: number }>`
      select status, count(*)::int as n from orders group by status`.execute(db);
    const count = (status: string) => rows.find((row) => row.status === status)?.n ?? 0;
    return {
      seed,
      orders: options.orders,
      faults,
      confirmed: count('CONFIRMED'),
      cancelled: count('CANCELLED'),
      needsAttention: count('NEEDS_ATTENTION'),
      pending:
        rows.reduce((sum, row) => sum + row.n, 0) -
        count('CONFIRMED') -
        count('CANCELLED') -
        count('NEEDS_ATTENTION'),
      deadLettered: letters.length,
      violations,
      durationMs: Date.now() - run.started,
    };
  } finally {
    await pubsub.close();
    await db.destroy();
  }
}

/**
 * Quiet: every order final, no saga waiting for a deadline, the outbox sent and the
 * warehouse holding every event. A slow stack that still moves is waited for; the drain
 * gives up (false) once nothing has moved for `stallTimeoutMs`.
 */
async function drain(
  db: ReturnType<typeof createDb>,
  warehousePath: string,
  stallTimeoutMs: number,
  signal: AbortSignal | undefined,
) {
  let movedAt = Date.now();
  let lastState = '';
  let loaded = 0;
  // Deliveries still queued on a subscription show only as the consumers' inboxes growing:
  // the stack is quiet once they have stopped growing for a while, too.
  let handled = -1;
  let handledSince = Date.now();
  for (let round = 0; ; round++) {
    signal?.throwIfAborted();
    const { rows } = await sql<{ open: number; waiting: number; unsent: number; handled: number }>`
      select
        (select count(*)::int from orders where status not in ('CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION')) as open,
        (select count(*)::int from sagas where deadline_at is not null) as waiting,
        (select count(*)::int from outbox where sent_at is null and set_aside_at is null) as unsent,
        (select count(*)::int from processed_events) as handled`.execute(db);
    const { open, waiting, unsent } = rows[0]!;
    if (rows[0]!.handled !== handled) {
      handled = rows[0]!.handled;
      handledSince = Date.now();
    }
    const settled = Date.now() - handledSince > 5_000;
    // The warehouse file is the loader's too: read it every few seconds only.
    if (open === 0 && waiting === 0 && unsent === 0 && settled && round % 5 === 0) {
      const events = await db.selectFrom('outbox').select('id').execute();
      const counts = await warehouseCounts(warehousePath);
      loaded = events.filter((event) => counts.get(event.id)?.deduplicated === 1).length;
      if (loaded === events.length) return true;
    }
    const state = `${open}:${waiting}:${unsent}:${handled}:${loaded}`;
    if (state !== lastState) {
      lastState = state;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallTimeoutMs) {
      return false;
    }
    await sleep(1_000);
  }
}

async function warehouseCounts(path: string): Promise<WarehouseCounts> {
  const warehouse = createDuckDbWarehouse({ path });
  try {
    return warehouseCountsOf(await warehouse.auditEvents());
  } finally {
    await warehouse.close();
  }
}

/** Everything on the dead-letter queues, by topic: pulled (and acked) until a pull finds nothing. */
async function drainDeadLetters(
  pubsub: ReturnType<typeof createPubSubClient>,
): Promise<{ topic: string; message: Message }[]> {
  const letters: { topic: string; message: Message }[] = [];
  for (const name of allFunctions) {
    const trigger = declaredFunctions[name].trigger;
    if (trigger.kind !== 'topic') continue;
    for (;;) {
      const batch = await pullMessages(pubsub, deadLetterTopic(trigger.topic), {
        count: 500,
        timeoutMs: 2_000,
      });
      letters.push(...batch.map((message) => ({ topic: trigger.topic, message })));
      if (batch.length === 0) break;
    }
  }
  return letters;
}
