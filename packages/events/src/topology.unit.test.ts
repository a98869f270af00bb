import { describe, expect, it } from '@jest/globals';
import { eventTypes } from './catalog';
import {
  isProducer,
  mayEmit,
  producerOf,
  producers,
  routes,
  sagaTopic,
  topicConsumedBy,
  topics,
} from './topology';

describe('topology', () => {
  it('routes every event type to analytics and to topics that exist', () => {
    for (const type of eventTypes) {
      expect(routes[type]).toContain('analytics');
      for (const topic of routes[type]) expect(Object.keys(topics)).toContain(topic);
    }
  });

  it('routes no domain event to the housekeeping topic', () => {
    expect(Object.values(routes).flat()).not.toContain('housekeeping');
  });

  it('names the topic each consumer is triggered by, and refuses one that consumes none', () => {
    for (const [topic, { consumer }] of Object.entries(topics)) {
      expect(topicConsumedBy(consumer)).toBe(topic);
    }
    expect(sagaTopic).toBe('order-saga');
    expect(() => topicConsumedBy('place-order')).toThrow(/no topic is consumed by place-order/);
  });

  it('declares exactly one producer of every event type', () => {
    for (const type of eventTypes) {
      const declared = Object.entries(producers).filter(([, types]) =>
        (types as readonly string[]).includes(type),
      );
      expect(declared.map(([producer]) => producer)).toEqual([producerOf(type)]);
    }
    expect(Object.values(producers).flat().sort()).toEqual([...eventTypes].sort());
  });

  it('names functions as producers: intake, and the consumers that answer what they consume', () => {
    expect(Object.keys(producers)).toEqual(['place-order', 'process-order', 'payment-handler']);
    expect(topicConsumedBy('process-order')).toBe('order-saga');
    expect(topicConsumedBy('payment-handler')).toBe('payments');
  });

  it('lets a producer emit its own types only', () => {
    expect(mayEmit('place-order', 'OrderPlaced')).toBe(true);
    expect(mayEmit('payment-handler', 'PaymentSucceeded')).toBe(true);
    expect(mayEmit('process-order', 'PaymentSucceeded')).toBe(false);
    expect(mayEmit('place-order', 'OrderConfirmed')).toBe(false);
    expect(mayEmit('analytics-loader', 'OrderPlaced')).toBe(false);
    expect(mayEmit('process-order', 'OrderTeleported')).toBe(false);
    // Names on the prototype are no producers.
    expect(isProducer('constructor')).toBe(false);
    expect(mayEmit('toString', 'OrderPlaced')).toBe(false);
    expect(isProducer('payment-handler')).toBe(true);
  });

  it('keeps delivery settings within what Pub/Sub accepts', () => {
    for (const { delivery } of Object.values(topics)) {
      expect(delivery.maxDeliveryAttempts).toBeGreaterThanOrEqual(5);
      expect(delivery.maxDeliveryAttempts).toBeLessThanOrEqual(100);
      expect(delivery.minimumBackoffSeconds).toBeLessThanOrEqual(delivery.maximumBackoffSeconds);
      expect(delivery.maximumBackoffSeconds).toBeLessThanOrEqual(600);
      expect(delivery.ackDeadlineSeconds).toBeGreaterThanOrEqual(10);
    }
  });
});
