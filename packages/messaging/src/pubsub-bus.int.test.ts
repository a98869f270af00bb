import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, decodeMessage, routedCopies } from '@orders/events';
import { createTopology, pullMessages, testProjectId } from '@orders/local-stack';
import { createPubSubDeadLetters } from './dead-letters';
import { outboxRows } from './outbox';
import { createPublisher, PublishError } from './publisher';
import { createPubSubBus } from './pubsub-bus';
import { createPubSubClient } from './pubsub-client';

const projectId = testProjectId('pubsub-bus');
let pubsub: PubSub;
const publisher = () =>
  createPublisher({ projectId, emulatorHost: process.env.PUBSUB_EMULATOR_HOST! });

beforeAll(async () => {
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  for (const topic of ['order-saga', 'payments', 'analytics']) {
    await pubsub.topic(topic).createSubscription(`${topic}-tap`);
  }
});
afterAll(() => pubsub?.close());

describe('createPubSubBus', () => {
  it('publishes each event to every topic its type routes to, and nowhere else', async () => {
    const orderId = randomUUID();
    const origin = { source: 'test', correlationId: randomUUID() };
    const requested = createEvent(
      'PaymentRequested',
      { orderId, paymentId: `pay-${orderId}`, customerId: 'c', amountMinor: 500, currency: 'EUR' },
      origin,
    );
    const confirmed = createEvent(
      'OrderConfirmed',
      { orderId, totalMinor: 500, currency: 'EUR' },
      origin,
    );

    const outcomes = await createPubSubBus(publisher()).publish(
      routedCopies([requested, confirmed]),
    );
    expect(outcomes.map(({ event, topic, published }) => [event.type, topic, published])).toEqual([
      ['PaymentRequested', 'payments', true],
      ['PaymentRequested', 'analytics', true],
      ['OrderConfirmed', 'analytics', true],
    ]);

    const [payment] = await pullMessages(pubsub, 'payments-tap', { count: 1 });
    expect(decodeMessage(payment!)).toEqual(requested);
    expect(payment?.orderingKey).toBe(orderId);
    const analytics = await pullMessages(pubsub, 'analytics-tap', { count: 2 });
    expect(analytics.map((m) => m.attributes.event_type).sort()).toEqual([
      'OrderConfirmed',
      'PaymentRequested',
    ]);
    expect(await pullMessages(pubsub, 'order-saga-tap', { count: 1, timeoutMs: 500 })).toEqual([]);
  });

  it("publishes an event written to the outbox as its row's JSON text, even if the object changed since", async () => {
    const orderId = randomUUID();
    const requested = createEvent(
      'PaymentRequested',
      { orderId, paymentId: `pay-${orderId}`, customerId: 'c', amountMinor: 700, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    const [row] = outboxRows('process-order', [requested]);
    // A change after the row was written is not what the row holds: the message is the row.
    (requested.data as { amountMinor: number }).amountMinor = 1;
    const outcomes = await createPubSubBus(publisher()).publish([
      { event: requested, topic: 'payments' },
    ]);
    expect(outcomes.map((outcome) => outcome.published)).toEqual([true]);
    const [payment] = await pullMessages(pubsub, 'payments-tap', { count: 1 });
    expect(Buffer.from(payment!.data).toString()).toBe(row!.event);
    expect(decodeMessage(payment!).data).toMatchObject({ amountMinor: 700 });
  });

  it('reports each copy: a topic that refuses fails its own copies only', async () => {
    // A project where only analytics exists: publishes to payments are refused (404).
    const partial = testProjectId('pubsub-bus-partial');
    const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
    const client = createPubSubClient({ projectId: partial, emulatorHost });
    try {
      await client.createTopic('analytics');
      const orderId = randomUUID();
      const requested = createEvent(
        'PaymentRequested',
        { orderId, paymentId: `pay-${orderId}`, customerId: 'c', amountMinor: 1, currency: 'EUR' },
        { source: 'test', correlationId: randomUUID() },
      );
      const bus = createPubSubBus(createPublisher({ projectId: partial, emulatorHost }));
      const [payments, analytics] = await bus.publish(routedCopies([requested]));
      expect(payments).toMatchObject({ topic: 'payments', published: false });
      const error = (payments as { error: unknown }).error;
      expect(error).toBeInstanceOf(PublishError);
      expect((error as PublishError).status).toBe(404);
      expect(analytics).toEqual({ event: requested, topic: 'analytics', published: true });
    } finally {
      await client.close();
    }
  });
});

describe('createPubSubDeadLetters', () => {
  it('republishes the original bytes and attributes to <topic>-dlq with the reason', async () => {
    await createPubSubDeadLetters(publisher()).send({
      topic: 'payments',
      consumer: 'payment-handler',
      reason: 'unknown event type PaymentTeleported',
      message: {
        data: Buffer.from('{"x":1}').toString('base64'),
        attributes: { event_type: 'PaymentTeleported' },
        messageId: '42',
      },
    });
    const [dead] = await pullMessages(pubsub, 'payments-dlq', { count: 1 });
    expect(dead?.data.toString()).toBe('{"x":1}');
    expect(dead?.attributes).toEqual({
      event_type: 'PaymentTeleported',
      dlq_reason: 'unknown event type PaymentTeleported',
      dlq_consumer: 'payment-handler',
      dlq_source_topic: 'payments',
      dlq_original_message_id: '42',
      dlq_at: expect.stringMatching(/Z$/),
    });
  });

  it('keeps dlq_reason within the 1024 bytes Pub/Sub allows, cut at a character and marked', async () => {
    // 1000 characters that are 2000 bytes of UTF-8: a cut by characters is still too long.
    const reason = 'é'.repeat(1000);
    await createPubSubDeadLetters(publisher()).send({
      topic: 'analytics',
      consumer: 'analytics-loader',
      reason,
      message: { data: Buffer.from('{}').toString('base64'), attributes: {}, messageId: '43' },
    });
    const [dead] = await pullMessages(pubsub, 'analytics-dlq', { count: 1 });
    const kept = dead?.attributes.dlq_reason ?? '';
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(1024);
    // As much of the reason as fits beside the '…' (3 bytes), in whole characters.
    expect(kept).toBe(`${'é'.repeat((1024 - 3) >> 1)}…`);
  });
});
