import { randomUUID } from 'node:crypto';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type Envelope, encodeEvent } from '@orders/events';
import {
  createTopology,
  pullMessages,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/pubsub';
import { sql } from 'kysely';

/**
 * Uuids are case-insensitive on the wire, but PostgreSQL reads uuid columns back in lower
 * case: payment-handler, served by functions-framework against the real database and emulator,
 * given a PaymentRequested whose uuids are upper case.
 */
const projectId = testProjectId('payment-uuid-case');
const topic = 'payments';
let database: TestDatabase;
let pubsub: PubSub;
let tap: Subscription;
let served: ServedFunction;
const published: Envelope[] = [];

beforeAll(async () => {
  database = await testDatabase('payment-uuid-case');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    SANDBOX_LATENCY_MS: '0',
  });
  require('./index');
  served = await serveFunction('handlePayment', { projectId, topic });
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  [tap] = await pubsub.topic('order-saga').createSubscription('order-saga-tap');
  tap.on('message', (message: Message) => {
    message.ack();
    published.push(JSON.parse(message.data.toString()));
  });
});

afterAll(async () => {
  tap?.removeAllListeners();
  await tap?.close();
  await served?.close();
  await pubsub?.close();
  await database?.close();
});

async function publishedFor(orderId: string, count: number) {
  const of = () => published.filter((event) => event.subject === orderId);
  const deadline = Date.now() + 10_000;
  while (of().length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return of();
}

describe('a PaymentRequested with upper-case uuids', () => {
  it('is charged once and succeeds, the same as in lower case', async () => {
    const orderId = randomUUID();
    const correlationId = randomUUID();
    const upper = (uuid: string) => uuid.toUpperCase();
    const request = createEvent(
      'PaymentRequested',
      {
        orderId: upper(orderId),
        paymentId: `pay_${orderId}`,
        customerId: 'cust-1',
        amountMinor: 2599,
        currency: 'EUR',
      },
      {
        source: 'process-order',
        id: upper(randomUUID()),
        correlationId: upper(correlationId),
        causationId: upper(randomUUID()),
      },
    );
    expect(request.subject).toBe(upper(orderId));

    const response = await served.deliver(encodeEvent(request));
    expect(response.status).toBe(204);

    const deadLetters = await pullMessages(pubsub, `${topic}-dlq`, { count: 1, timeoutMs: 500 });
    expect(deadLetters.map((message) => message.attributes.dlq_reason)).toEqual([]);

    const [succeeded] = await publishedFor(orderId, 1);
    expect(succeeded).toMatchObject({
      type: 'PaymentSucceeded',
      subject: orderId,
      correlationId,
      causationId: request.id.toLowerCase(),
      data: { orderId, paymentId: `pay_${orderId}`, amountMinor: 2599, currency: 'EUR' },
    });
    const ledger = () =>
      database.db
        .selectFrom('sandbox_provider_operations')
        .select(['kind', 'outcome', 'order_id'])
        .where('payment_id', '=', `pay_${orderId}`)
        .execute();
    const charged = [{ kind: 'charge', outcome: 'succeeded', order_id: orderId }];
    expect(await ledger()).toEqual(charged);

    // The same event in lower case is a duplicate: nothing more is charged or emitted.
    const lower = {
      ...request,
      id: request.id.toLowerCase(),
      correlationId,
      causationId: request.causationId?.toLowerCase() ?? null,
      subject: orderId,
      data: { ...request.data, orderId },
    };
    expect((await served.deliver(encodeEvent(lower))).status).toBe(204);
    const emitted = await database.db
      .selectFrom('outbox')
      .select(sql<string>`event->>'type'`.as('type'))
      .where(sql<string>`event->>'subject'`, '=', orderId)
      .execute();
    expect(emitted).toEqual([{ type: 'PaymentSucceeded' }]);
    expect(await ledger()).toEqual(charged);
  });
});
