import { describe, expect, it } from '@jest/globals';
import { createEvent, encodeEvent } from '@orders/events';
import {
  describeDeadLetter,
  originalAttributes,
  replayMessage,
  replayRefusal,
} from './dead-letter';

const eventAttributes = {
  event_type: 'PaymentRequested',
  event_version: '1',
  event_id: 'e-1',
  correlation_id: 'c-1',
};

describe('describeDeadLetter', () => {
  it('reads a consumer refusal from its dlq_* attributes', () => {
    const letter = describeDeadLetter('payments', {
      messageId: '12',
      data: Buffer.from('{"x":1}'),
      attributes: {
        ...eventAttributes,
        dlq_reason: 'unknown version 9 of PaymentRequested',
        dlq_consumer: 'payment-handler',
        dlq_source_topic: 'payments',
        dlq_original_message_id: '7',
        dlq_at: '2026-01-02T03:04:05.678Z',
      },
      publishTime: { seconds: 1767323046, nanos: 0 },
    });
    expect(letter).toEqual({
      id: '12',
      topic: 'payments',
      kind: 'rejected',
      eventType: 'PaymentRequested',
      eventId: 'e-1',
      correlationId: 'c-1',
      reason: 'unknown version 9 of PaymentRequested',
      source: 'payment-handler',
      deliveryCount: null,
      at: '2026-01-02T03:04:05.678Z',
      originalMessageId: '7',
      attributes: expect.objectContaining({ dlq_consumer: 'payment-handler' }),
      data: Buffer.from('{"x":1}'),
    });
  });

  it('reads a message Pub/Sub gave up on from its CloudPubSubDeadLetter* attributes', () => {
    const letter = describeDeadLetter('order-saga', {
      messageId: '99',
      data: Buffer.from('{}'),
      attributes: {
        ...eventAttributes,
        CloudPubSubDeadLetterSourceSubscription: 'process-order',
        CloudPubSubDeadLetterSourceDeliveryCount: '5',
        CloudPubSubDeadLetterSourceSubscriptionProject: 'p',
        CloudPubSubDeadLetterSourceTopicPublishTime: '2026-01-02T03:00:00.000Z',
      },
      // protobufjs may hand back a Long for the seconds.
      publishTime: { seconds: { toNumber: () => 1767323046 }, nanos: 250_000_000 },
    });
    expect(letter).toMatchObject({
      id: '99',
      kind: 'undeliverable',
      reason: 'max delivery attempts exceeded',
      source: 'process-order',
      deliveryCount: 5,
      at: '2026-01-02T03:04:06.250Z',
      originalMessageId: null,
    });
  });

  it('shows a message without any dead-letter attribute for what it is', () => {
    const letter = describeDeadLetter('analytics', {
      messageId: '1',
      data: 'eyJ9',
      attributes: null,
    });
    expect(letter).toMatchObject({
      reason: 'unknown (no dead-letter attributes)',
      eventType: null,
      source: null,
      deliveryCount: null,
      at: '',
      data: Buffer.from('{"}'),
    });
  });
});

describe('originalAttributes', () => {
  it('drops the attributes dead-lettering added, and keeps the rest', () => {
    expect(
      originalAttributes({
        ...eventAttributes,
        dlq_reason: 'r',
        dlq_at: 't',
        CloudPubSubDeadLetterSourceSubscription: 's',
        CloudPubSubDeadLetterSourceDeliveryCount: '5',
        custom: 'kept',
      }),
    ).toEqual({ ...eventAttributes, custom: 'kept' });
  });
});

describe('replayRefusal', () => {
  const orderId = '0b0f6a4e-6f8e-4bfc-9d5f-1e1f5b0c9a11';
  const succeeded = createEvent(
    'PaymentSucceeded',
    {
      orderId,
      paymentId: `pay_${orderId}`,
      providerRef: 'ch_1',
      amountMinor: 500,
      currency: 'EUR',
    },
    { source: 'payment-handler', correlationId: '5d8f1c2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f' },
  );
  const letterOf = (topic: string, data: Buffer, attributes = encodeEvent(succeeded).attributes) =>
    describeDeadLetter(topic, {
      messageId: '12',
      data,
      attributes: { ...attributes, dlq_reason: 'refused', dlq_consumer: 'process-order' },
    });
  const valid = letterOf('order-saga', encodeEvent(succeeded).data);

  it('lets a valid event go back to a topic its type is routed to, as it was', () => {
    expect(replayMessage(valid)).toEqual({
      data: encodeEvent(succeeded).data,
      attributes: encodeEvent(succeeded).attributes,
    });
    expect(replayRefusal('order-saga', replayMessage(valid))).toBeUndefined();
    expect(replayRefusal('analytics', replayMessage(valid))).toBeUndefined();
  });

  it('refuses an event its topic does not route, naming the topics it goes to', () => {
    expect(replayRefusal('payments', replayMessage(valid))).toBe(
      'PaymentSucceeded is not routed to payments (its topics: order-saga, analytics)',
    );
  });

  it('refuses what its consumer would refuse: not JSON, an invalid envelope or data', () => {
    const refusal = (data: string) =>
      replayRefusal('order-saga', replayMessage(letterOf('order-saga', Buffer.from(data))));
    expect(refusal('tick')).toBe('not a valid event: message data is not JSON');
    expect(
      refusal(JSON.stringify({ ...succeeded, data: { ...succeeded.data, amountMinor: -1 } })),
    ).toMatch(/^not a valid event: PaymentSucceeded v1 data: data\.amountMinor: /);
    expect(refusal(JSON.stringify({ ...succeeded, id: 'not-a-uuid' }))).toMatch(
      /^not a valid event: invalid envelope: id/,
    );
  });

  it('holds a fixed body (--data) to the same rule, with the event attributes it names', () => {
    const broken = letterOf('order-saga', Buffer.from('{"broken":true}'));
    const fixed = replayMessage(broken, encodeEvent(succeeded).data);
    expect(fixed.attributes).toMatchObject(encodeEvent(succeeded).attributes);
    expect(replayRefusal('order-saga', fixed)).toBeUndefined();
    const confirmed = createEvent(
      'OrderConfirmed',
      { orderId, totalMinor: 500, currency: 'EUR' },
      { source: 'process-order', correlationId: succeeded.correlationId },
    );
    expect(replayRefusal('order-saga', replayMessage(broken, encodeEvent(confirmed).data))).toBe(
      'OrderConfirmed is not routed to order-saga (its topics: analytics)',
    );
    expect(
      replayRefusal(
        'order-saga',
        replayMessage(broken, Buffer.from('{"type":"PaymentSucceeded"}')),
      ),
    ).toMatch(/^not a valid event: invalid envelope/);
  });
});
