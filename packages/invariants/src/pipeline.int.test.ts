import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDuckDbWarehouse } from '@orders/analytics';
import { seedProducts } from '@orders/db';
import {
  createEvent,
  type Envelope,
  encodeEvent,
  routedCopies,
  type TopicName,
  topics,
} from '@orders/events';
import {
  type LocalStack,
  lineSink,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
  waiterShowing,
} from '@orders/local-stack';
import { createPublisher, createPubSubBus, createPubSubClient } from '@orders/messaging';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { sql } from 'kysely';
import { checkInvariants, type WarehouseCounts, warehouseCountsOf } from './check-invariants';

/**
 * The whole pipeline on the local stack: PostgreSQL, the emulator with push subscriptions,
 * and every function served by functions-framework. Orders of every kind go through it; then
 * the invariants of the design (docs/architecture.md, "The invariants and their checker") are checked against the database and the warehouse.
 */
let database: TestDatabase;
let stack: LocalStack;
let pubsub: PubSub;
let warehouseDir: string;
const functionOutput: string[] = [];

beforeAll(async () => {
  database = await testDatabase('pipeline');
  warehouseDir = await mkdtemp(join(tmpdir(), 'pipeline-warehouse-'));
  stack = await startLocalStack({
    projectId: testProjectId('pipeline'),
    functions: [
      'place-order',
      'process-order',
      'payment-handler',
      'analytics-loader',
      'housekeeping',
    ],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      DUCKDB_PATH: join(warehouseDir, 'warehouse.duckdb'),
      SANDBOX_LATENCY_MS: '5',
      OUTBOX_RELAY_MIN_AGE_MS: '1000',
    },
    // The inbox consumers say at info level when they ignore a duplicate delivery: the
    // republish test counts those lines.
    functionEnv: (name) => (inboxConsumers.includes(name) ? { LOG_LEVEL: 'info' } : {}),
    housekeepingIntervalMs: 1_000,
    functionStdout: collect,
    functionStderr: collect,
  });
  pubsub = createPubSubClient({
    projectId: stack.projectId,
    emulatorHost: stack.pubsubEmulatorHost,
  });
}, 120_000);

afterAll(async () => {
  await pubsub?.close();
  await stack?.stop();
  await database?.close();
  if (warehouseDir) await rm(warehouseDir, { recursive: true, force: true });
});

/** The consumers that claim each event in the inbox (`processed_events`) before handling it. */
const inboxConsumers = ['process-order', 'payment-handler'];

const collect = lineSink((line) => functionOutput.push(line));

interface Placed {
  orderId: string;
  customerId: string;
  correlationId: string;
  kind: 'normal' | 'declined' | 'no-funds' | 'out-of-stock' | 'flaky';
}

async function placeOrder(
  kind: Placed['kind'],
  customerId: string,
  items: { sku: string; quantity: number }[],
  key?: string,
): Promise<Placed> {
  const response = await fetch(`${stack.functions['place-order']}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await stack.auth!.token(customerId)}`,
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify({ currency: 'EUR', items }),
  });
  expect(response.status).toBe(202);
  const body = (await response.json()) as { orderId: string; correlationId: string };
  return { ...body, customerId, kind };
}

async function unfinished(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from orders where status not in ('CONFIRMED', 'CANCELLED')`.execute(
    database.db,
  );
  return rows[0]!.n;
}

const waitFor = waiterShowing(functionOutput);

async function warehouseCounts(): Promise<WarehouseCounts> {
  const warehouse = createDuckDbWarehouse({ path: join(warehouseDir, 'warehouse.duckdb') });
  try {
    return warehouseCountsOf(await warehouse.auditEvents());
  } finally {
    await warehouse.close();
  }
}

/** Quiet: every order final, the outbox drained, and every event in the warehouse. */
async function waitForQuiet() {
  await waitFor('every order to be final', async () => (await unfinished()) === 0, 90_000);
  await waitFor(
    'the outbox to drain and the warehouse to hold every event',
    async () => {
      const events = await database.db.selectFrom('outbox').select(['id', 'sent_at']).execute();
      if (events.some((event) => event.sent_at === null)) return false;
      const counts = await warehouseCounts();
      return events.every((event) => counts.get(event.id)?.deduplicated === 1);
    },
    60_000,
  );
}

const placed: Placed[] = [];

describe('the pipeline, end to end', () => {
  it('takes orders of every kind to a final state, and keeps every invariant', async () => {
    const inStock = ['TEA-001', 'TEA-002', 'MUG-001', 'FILTER-10', 'POT-001'];
    const orders: Promise<Placed>[] = [];
    for (let i = 0; i < 12; i++) {
      orders.push(
        placeOrder('normal', `cust-${i}`, [
          { sku: inStock[i % inStock.length]!, quantity: 1 + (i % 2) },
          ...(i % 4 === 0 ? [{ sku: 'KETTLE-01', quantity: 1 }] : []),
        ]),
      );
    }
    for (let i = 0; i < 4; i++)
      orders.push(placeOrder('declined', `decline-${i}`, [{ sku: 'MUG-001', quantity: 1 }]));
    for (let i = 0; i < 2; i++)
      orders.push(placeOrder('no-funds', `nofunds-${i}`, [{ sku: 'TEA-001', quantity: 1 }]));
    for (let i = 0; i < 3; i++) {
      orders.push(
        placeOrder('out-of-stock', `cust-oos-${i}`, [
          { sku: 'RARE-001', quantity: 1 },
          { sku: 'TEA-002', quantity: 1 },
        ]),
      );
    }
    for (let i = 0; i < 2; i++)
      orders.push(placeOrder('flaky', `flaky-${i}`, [{ sku: 'FILTER-10', quantity: 3 }]));
    // The same request twice, with one Idempotency-Key: one order.
    const key = 'pipeline-once';
    orders.push(placeOrder('normal', 'cust-keyed', [{ sku: 'TEA-001', quantity: 1 }], key));
    placed.push(...(await Promise.all(orders)));
    const again = await placeOrder('normal', 'cust-keyed', [{ sku: 'TEA-001', quantity: 1 }], key);
    expect(again.orderId).toBe(placed.at(-1)!.orderId);
    expect(placed.length).toBeGreaterThanOrEqual(20);

    await waitForQuiet();

    const statuses = await database.db
      .selectFrom('orders')
      .select(['id', 'status', 'cancel_reason'])
      .execute();
    const outcome = (order: Placed) => statuses.find((row) => row.id === order.orderId);
    for (const order of placed) {
      const expected = {
        normal: { status: 'CONFIRMED', cancel_reason: null },
        flaky: { status: 'CONFIRMED', cancel_reason: null },
        declined: { status: 'CANCELLED', cancel_reason: 'payment_declined' },
        'no-funds': { status: 'CANCELLED', cancel_reason: 'payment_declined' },
        'out-of-stock': { status: 'CANCELLED', cancel_reason: 'out_of_stock' },
      }[order.kind];
      expect({ kind: order.kind, ...outcome(order) }).toMatchObject({
        kind: order.kind,
        ...expected,
      });
    }
    expect(statuses).toHaveLength(placed.length);

    const declined = placed.find((o) => o.kind === 'declined')!;
    const shown = await fetch(`${stack.functions['place-order']}/orders/${declined.orderId}`, {
      headers: { authorization: `Bearer ${await stack.auth!.token(declined.customerId)}` },
    });
    expect(await shown.json()).toMatchObject({
      status: 'CANCELLED',
      cancelReason: 'payment_declined',
    });

    expect(await violations()).toEqual([]);
  }, 180_000);

  it('never double-reserves, double-charges or double-counts when events are published again, concurrently', async () => {
    const rows = await database.db.selectFrom('outbox').select('event').execute();
    const events = rows.map((row) => row.event as unknown as Envelope);
    const again = events.filter((event) =>
      ['OrderPlaced', 'PaymentRequested', 'PaymentSucceeded', 'OrderConfirmed'].includes(
        event.type,
      ),
    );
    const copies = routedCopies(again);
    const consumerOf = (topic: TopicName) => topics[topic].consumer;
    const toInboxes = copies.filter((copy) => inboxConsumers.includes(consumerOf(copy.topic)));
    const toWarehouse = copies.filter((copy) => copy.topic === 'analytics');
    // Every kind of consumer gets copies: both inboxes and the warehouse.
    expect(new Set(copies.map((copy) => consumerOf(copy.topic)))).toEqual(
      new Set([...inboxConsumers, 'analytics-loader']),
    );

    // Every copy republished to an inbox consumer is of an event it already handled, so each
    // is a duplicate it must ignore.
    const inboxBefore = await inbox();
    expect(
      toInboxes
        .filter((copy) => !inboxBefore.includes(`${consumerOf(copy.topic)} ${copy.event.id}`))
        .map((copy) => `${copy.event.type} ${copy.event.id} to ${copy.topic}`),
    ).toEqual([]);
    const ignoredBefore = duplicatesIgnored();
    const loadedBefore = await warehouseCounts();

    const bus = createPubSubBus(
      createPublisher({ projectId: stack.projectId, emulatorHost: stack.pubsubEmulatorHost }),
    );
    // Each twice at once: one copy may reach a consumer while the other is in flight.
    const outcomes = await Promise.all([bus.publish(copies), bus.publish(copies)]);
    expect(outcomes.flat().filter((outcome) => !outcome.published)).toEqual([]);

    // Both copies of each arrived: the inbox consumers ignored them as duplicates, and the
    // warehouse table holds two rows more of each event.
    const notYetArrived = async () => {
      const ignored = duplicatesIgnored();
      const loaded = await warehouseCounts();
      return [
        ...toInboxes
          .filter((copy) => {
            const key = `${consumerOf(copy.topic)} ${copy.event.id}`;
            return (ignored.get(key) ?? 0) < (ignoredBefore.get(key) ?? 0) + 2;
          })
          .map((copy) => `${copy.event.type} ${copy.event.id} to ${copy.topic}`),
        ...toWarehouse
          .filter(
            (copy) =>
              (loaded.get(copy.event.id)?.rows ?? 0) <
              (loadedBefore.get(copy.event.id)?.rows ?? 0) + 2,
          )
          .map((copy) => `${copy.event.type} ${copy.event.id} to ${copy.topic}`),
      ];
    };
    let missing: string[] = [];
    await waitFor(
      'both republished copies of every event to reach its consumers',
      async () => {
        missing = await notYetArrived();
        return missing.length === 0;
      },
      90_000,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\n${missing.length} copies missing, e.g. ${missing.slice(0, 5).join('; ')}`,
      );
    });

    await waitForQuiet();
    // Absorbed: no consumer claimed anything new, and the invariants hold (the warehouse's
    // dedup view still holds each event once, each order reserved and charged once).
    expect(await inbox()).toEqual(inboxBefore);
    expect(await violations()).toEqual([]);
    const { rows: charges } = await sql<{ n: number }>`
      select count(*)::int as n from sandbox_provider_operations where kind = 'charge' and outcome = 'succeeded'`.execute(
      database.db,
    );
    expect(charges[0]!.n).toBe(
      placed.filter((order) => order.kind === 'normal' || order.kind === 'flaky').length,
    );
  }, 180_000);

  it('dead-letters a message that fails its schema; `pnpm dlq replay` of the fixed message completes its order', async () => {
    // An order whose OrderPlaced a buggy producer sent with a lower-case currency.
    const good = createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: 'cust-dlq',
        currency: 'EUR',
        items: [{ sku: 'MUG-001', quantity: 1, unitPriceMinor: 1850 }],
        totalMinor: 1850,
      },
      { source: 'place-order', correlationId: randomUUID() },
    );
    await insertPlacedOrder(database.db, good);
    // The producer published its broken version: the relay must not publish the good one.
    await database.db
      .updateTable('outbox')
      .set({ sent_at: new Date() })
      .where('id', '=', good.id)
      .execute();
    const broken = { ...good, data: { ...good.data, currency: 'eur' } };
    await pubsub.topic('order-saga').publishMessage({
      data: Buffer.from(JSON.stringify(broken)),
      attributes: encodeEvent(good).attributes,
    });

    const dlq = (...args: string[]) => runDlq(args);
    let letter: { id: string; reason: string; eventId: string } | undefined;
    await waitFor(
      'the broken message on order-saga-dlq',
      async () => {
        const listed = JSON.parse(
          (await dlq('list', '--json', '--topic', 'order-saga')).stdout,
        ) as { id: string; reason: string; eventId: string }[];
        letter = listed.find((candidate) => candidate.eventId === good.id);
        return letter !== undefined;
      },
      20_000,
    );
    expect(letter!.reason).toMatch(/^OrderPlaced v2 data: data\.currency: must be an ISO 4217/);
    const waiting = await database.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', good.data.orderId)
      .executeTakeFirstOrThrow();
    expect(waiting.status).toBe('PLACED');

    const fixed = join(warehouseDir, 'fixed-order-placed.json');
    await writeFile(fixed, JSON.stringify(good));
    const replay = await dlq('replay', letter!.id, '--data', fixed, '--topic', 'order-saga');
    expect(replay).toMatchObject({ code: 0, stdout: expect.stringContaining('replayed 1 of 1') });

    await waitFor(
      'the replayed order to be confirmed',
      async () => {
        const order = await database.db
          .selectFrom('orders')
          .select('status')
          .where('id', '=', good.data.orderId)
          .executeTakeFirstOrThrow();
        return order.status === 'CONFIRMED';
      },
      30_000,
    );
    const left = JSON.parse((await dlq('list', '--json', '--topic', 'order-saga')).stdout) as {
      eventId: string;
    }[];
    expect(left.filter((candidate) => candidate.eventId === good.id)).toEqual([]);
  }, 90_000);
});

/** The built `pnpm dlq`, pointed at this test's stack. */
function runDlq(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = join(__dirname, '..', '..', 'cli', 'dist', 'dlq.js');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      {
        env: {
          PATH: process.env.PATH,
          PUBSUB_EMULATOR_HOST: stack.pubsubEmulatorHost,
          GOOGLE_CLOUD_PROJECT: stack.projectId,
          DEV_STACK_FILE: join(warehouseDir, 'no-dev-stack.json'),
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `consumer eventId` of every claim in the inbox, sorted. */
async function inbox(): Promise<string[]> {
  const rows = await database.db
    .selectFrom('processed_events')
    .select(['consumer', 'event_id'])
    .execute();
  return rows.map((row) => `${row.consumer} ${row.event_id}`).sort();
}

/** How many deliveries each inbox consumer ignored as duplicates, per `consumer eventId`. */
function duplicatesIgnored(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of functionOutput) {
    const separator = line.indexOf(' | ');
    if (separator < 0) continue;
    const consumer = line.slice(0, separator);
    const json = line.slice(separator + 3);
    if (!inboxConsumers.includes(consumer) || !json.startsWith('{')) continue;
    let entry: { message?: unknown; eventId?: unknown };
    try {
      entry = JSON.parse(json);
    } catch {
      continue;
    }
    if (entry.message !== 'duplicate delivery ignored') continue;
    const key = `${consumer} ${String(entry.eventId)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

async function violations() {
  const found = await checkInvariants({
    db: database.db,
    initialStock: Object.fromEntries(seedProducts.map((product) => [product.sku, product.stock])),
    warehouse: await warehouseCounts(),
  });
  return found;
}
