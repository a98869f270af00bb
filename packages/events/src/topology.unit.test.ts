import { describe, expect, it } from '@jest/globals';
import { eventTypes } from './catalog';
import { routes, sagaTopic, topicConsumedBy, topics } from './topology';

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
