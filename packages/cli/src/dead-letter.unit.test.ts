import { describe, expect, it } from '@jest/globals';
import { describeDeadLetter, originalAttributes } from './dead-letter';

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
