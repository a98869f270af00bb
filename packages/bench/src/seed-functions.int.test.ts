import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createTopology,
  type FunctionProcess,
  lineSink,
  pullMessages,
  queryOnce,
  startFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';
import pg from 'pg';
import { pushedMessage } from './event-handling-bench';
import { createSeedHandler, seedHandlerConsumer } from './fixtures/seed-handler/seed-handler';
import { insertOrder, orderPlacedMessage } from './fixtures/seed-intake/seed-intake';

// The seed-style baselines do their work for real, or the benchmarks that compare against
// them would flatter us: the intake (served by functions-framework from its build) commits
// the order and its items and publishes OrderPlaced; the handler reserves, publishes the next
// event, and skips an event it has processed.

const projectId = testProjectId('seed-functions');
const seedIntakeDir = join(__dirname, '..', 'dist', 'fixtures', 'seed-intake');
let database: TestDatabase;
let pubsub: PubSub;
let pool: pg.Pool;
let intake: FunctionProcess;

beforeAll(async () => {
  if (!existsSync(join(seedIntakeDir, 'index.js'))) {
    throw new Error(`${seedIntakeDir} is not built: build first (pnpm run build)`);
  }
  database = await testDatabase('seed-functions');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  // Pull subscriptions named after each topic's consumer: what was published waits there.
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  intake = await startFunction({
    name: 'seed-intake',
    dir: seedIntakeDir,
    entryPoint: 'seedIntake',
    signatureType: 'http',
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: database.url,
      PUBSUB_EMULATOR_HOST: emulatorHost,
      GOOGLE_CLOUD_PROJECT: projectId,
      METADATA_SERVER_DETECTION: 'none',
    },
    stdout: lineSink(),
    linePrefix: 'seed-intake | ',
  });
});
afterAll(async () => {
  await intake?.stop();
  await pool?.end();
  await pubsub?.close();
  await database?.close();
});

const postOrder = (body: unknown) =>
  fetch(`${intake.url}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const count = async (sql: string, params: unknown[]) =>
  (await queryOnce<{ n: number }>(database.url, sql, params)).rows[0]!.n;

describe('the seed-style intake', () => {
  it('commits the order and its items priced from the catalog, then publishes OrderPlaced to both topics', async () => {
    const answer = await postOrder({
      customerId: 'seed-cust-1',
      currency: 'EUR',
      items: [
        { sku: 'TEA-001', quantity: 2 },
        { sku: 'MUG-001', quantity: 1 },
      ],
    });
    expect(answer.status).toBe(202);
    const { orderId } = (await answer.json()) as { orderId: string };
    const { rows } = await queryOnce<{ status: string; total: string; expected: string }>(
      database.url,
      `select o.status, o.total_minor::text as total,
         (select sum(i.quantity * p.price_minor) from order_items i join products p using (sku)
          where i.order_id = o.id)::text as expected
       from orders o where o.id = $1`,
      [orderId],
    );
    expect(rows).toEqual([
      { status: 'PLACED', total: rows[0]!.expected, expected: expect.any(String) },
    ]);
    expect(
      await count('select count(*)::int as n from order_items where order_id = $1', [orderId]),
    ).toBe(2);

    for (const subscription of ['process-order', 'analytics-loader']) {
      const [message] = await pullMessages(pubsub, subscription, { count: 1 });
      expect(message?.attributes.event_type).toBe('OrderPlaced');
      expect(JSON.parse(message!.data.toString('utf8'))).toMatchObject({
        order_id: orderId,
        customer_id: 'seed-cust-1',
        total_amount: Number(rows[0]!.total) / 100,
      });
    }
  });

  it('refuses a body zod refuses, and an unknown sku, writing nothing', async () => {
    const before = await count('select count(*)::int as n from orders', []);
    const twice = await postOrder({
      customerId: 'seed-cust-2',
      currency: 'EUR',
      items: [
        { sku: 'TEA-001', quantity: 1 },
        { sku: 'TEA-001', quantity: 1 },
      ],
    });
    const unknown = await postOrder({
      customerId: 'seed-cust-2',
      currency: 'EUR',
      items: [{ sku: 'NO-SUCH-SKU', quantity: 1 }],
    });
    expect([twice.status, unknown.status]).toEqual([400, 400]);
    expect(await count('select count(*)::int as n from orders', [])).toBe(before);
  });
});

describe('the seed-style handler', () => {
  const push = (message: ReturnType<typeof orderPlacedMessage>) =>
    pushedMessage(message, { projectId, topic: 'order-saga', subscription: 'seed-handler' });

  it('reserves the stock, moves the order on, publishes PaymentRequested and marks the event; skips it when delivered again', async () => {
    const handle = createSeedHandler({ pool, pubsub });
    const order = await insertOrder(pool, {
      customerId: 'seed-cust-3',
      currency: 'EUR',
      items: [{ sku: 'KETTLE-01', quantity: 2 }],
    });
    const stock = () => count(`select stock as n from products where sku = 'KETTLE-01'`, []);
    const stockBefore = await stock();
    const pushed = push(orderPlacedMessage(order));

    await handle(pushed);
    expect(await stock()).toBe(stockBefore - 2);
    const reserved = `select count(*)::int as n from stock_reservations where order_id = $1 and state = 'reserved'`;
    expect(await count(reserved, [order.orderId])).toBe(1);
    expect(
      await count(
        `select count(*)::int as n from orders where id = $1 and status = 'AWAITING_PAYMENT'`,
        [order.orderId],
      ),
    ).toBe(1);
    expect(
      await count(
        'select count(*)::int as n from processed_events where consumer = $1 and event_id = $2',
        [seedHandlerConsumer, order.eventId],
      ),
    ).toBe(1);
    const [requested] = await pullMessages(pubsub, 'payment-handler', { count: 1 });
    expect(requested?.attributes.event_type).toBe('PaymentRequested');
    expect(JSON.parse(requested!.data.toString('utf8'))).toMatchObject({
      order_id: order.orderId,
      amount: order.totalMinor / 100,
      currency: 'EUR',
    });

    await handle(pushed);
    expect(await stock()).toBe(stockBefore - 2);
    expect(await count(reserved, [order.orderId])).toBe(1);
    expect(await pullMessages(pubsub, 'payment-handler', { count: 1, timeoutMs: 1500 })).toEqual(
      [],
    );
  });

  it('cancels an order whose stock is short, taking none of it, and publishes OrderCancelled', async () => {
    const handle = createSeedHandler({ pool, pubsub });
    await queryOnce(database.url, `update products set stock = 1 where sku = 'POT-001'`);
    const order = await insertOrder(pool, {
      customerId: 'seed-cust-4',
      currency: 'EUR',
      items: [
        { sku: 'GIFT-BOX', quantity: 1 },
        { sku: 'POT-001', quantity: 2 },
      ],
    });
    const giftBoxes = () => count(`select stock as n from products where sku = 'GIFT-BOX'`, []);
    const before = await giftBoxes();
    await handle(push(orderPlacedMessage(order)));
    expect(await giftBoxes()).toBe(before);
    const { rows } = await queryOnce<{ status: string; cancel_reason: string }>(
      database.url,
      'select status, cancel_reason from orders where id = $1',
      [order.orderId],
    );
    expect(rows).toEqual([{ status: 'CANCELLED', cancel_reason: 'OUT_OF_STOCK' }]);
    const published = await pullMessages(pubsub, 'analytics-loader', {
      count: 10,
      timeoutMs: 2000,
    });
    expect(published.map((message) => message.attributes.event_type)).toContain('OrderCancelled');
  });
});
