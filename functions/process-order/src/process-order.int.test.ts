import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent, encodeEvent } from '@orders/events';
import { pythonReferenceOrderPlaced } from '@orders/events/testing';
import {
  createTopology,
  pullMessages,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';
import { insertPlacedOrder } from '@orders/ordering/testing';

const projectId = testProjectId('process-order');
let database: TestDatabase;
let pubsub: PubSub;
let served: ServedFunction;

beforeAll(async () => {
  database = await testDatabase('process-order');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
  });
  require('./index');
  served = await serveFunction('processOrder', { projectId, topic: 'order-saga' });
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await database?.close();
});

function push(event: DomainEvent | { data: Buffer; attributes: Record<string, string> }) {
  return served.deliver('type' in event ? encodeEvent(event) : event);
}

async function placeOrder(quantity: number) {
  const orderId = randomUUID();
  const items = [{ sku: 'POT-001', quantity, unitPriceMinor: 4500 }];
  const placed = createEvent(
    'OrderPlaced',
    { orderId, customerId: 'cust-1', currency: 'EUR', items, totalMinor: 4500 * quantity },
    { source: 'place-order', correlationId: randomUUID() },
  );
  await insertPlacedOrder(database.db, placed);
  return placed;
}

describe('process-order', () => {
  it('moves an order once however often OrderPlaced is delivered, and requests its payment once', async () => {
    const placed = await placeOrder(2);
    const responses = await Promise.all(Array.from({ length: 8 }, () => push(placed)));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(204));

    const reservations = await database.db
      .selectFrom('stock_reservations')
      .selectAll()
      .where('order_id', '=', placed.data.orderId)
      .execute();
    expect(reservations).toEqual([
      expect.objectContaining({ sku: 'POT-001', quantity: 2, state: 'reserved' }),
    ]);
    const requests = await pullMessages(pubsub, 'payment-handler', { count: 8, timeoutMs: 1500 });
    expect(requests.map((message) => message.attributes.event_type)).toEqual(['PaymentRequested']);
    expect(requests[0]!.attributes.correlation_id).toBe(placed.correlationId);
  });

  it('confirms the order when its payment succeeds', async () => {
    const placed = await placeOrder(1);
    await push(placed);
    const { orderId } = placed.data;
    const succeeded = createEvent(
      'PaymentSucceeded',
      {
        orderId,
        paymentId: `pay_${orderId}`,
        providerRef: 'ch_1',
        amountMinor: 4500,
        currency: 'EUR',
      },
      { source: 'payment-handler', correlationId: placed.correlationId },
    );
    expect((await push(succeeded)).status).toBe(204);
    const order = await database.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(order.status).toBe('CONFIRMED');
  });

  it('dead-letters an event the saga does not handle, and one that fails its schema', async () => {
    const placed = await placeOrder(1);
    const stray = createEvent(
      'OrderConfirmed',
      { orderId: placed.data.orderId, totalMinor: 4500, currency: 'EUR' },
      { source: 'test', correlationId: placed.correlationId },
    );
    expect((await push(stray)).status).toBe(204);
    const broken = encodeEvent(placed);
    expect(
      (await push({ data: Buffer.from('{"id": 1}'), attributes: broken.attributes })).status,
    ).toBe(204);

    const dead = await pullMessages(pubsub, 'order-saga-dlq', { count: 2 });
    expect(dead.map((message) => message.attributes.dlq_reason).sort()).toEqual([
      expect.stringMatching(/^invalid envelope: /),
      'the order saga does not handle OrderConfirmed',
    ]);
  });
});

describe('an OrderPlaced from the Python reference producer, without items', () => {
  it('is dead-lettered once with a reason an operator can act on, and starts no saga', async () => {
    const orderId = randomUUID();
    const message = pythonReferenceOrderPlaced({
      event_id: randomUUID(),
      occurred_at: new Date(),
      correlation_id: null,
      order_id: orderId,
      customer_id: randomUUID(),
      total_amount: 10.2 * 3,
    });

    const response = await served.deliver(message);
    // Acknowledged: Pub/Sub does not deliver it again.
    expect(response.status).toBe(204);

    const dead = await pullMessages(pubsub, 'order-saga-dlq', { count: 2, timeoutMs: 1500 });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data.toString('utf8')).toBe(message.data.toString('utf8'));
    expect(dead[0]!.attributes).toMatchObject({
      ...message.attributes,
      dlq_consumer: 'process-order',
      dlq_source_topic: 'order-saga',
      dlq_reason: `OrderPlaced of order ${orderId} has no items (a v1 producer that does not send its lines): this saga cannot reserve stock or charge for it; replay it with its items (pnpm dlq replay <id> --data fixed.json)`,
    });
    const sagas = await database.db.selectFrom('sagas').select('id').where('id', '=', orderId);
    expect(await sagas.execute()).toEqual([]);
    const transitions = database.db
      .selectFrom('saga_transitions')
      .select('version')
      .where('saga_id', '=', orderId);
    expect(await transitions.execute()).toEqual([]);
  });
});
