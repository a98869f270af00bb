import { describe, expect, it } from '@jest/globals';
import { eventTypes } from './catalog';
import { functions, routes, topics } from './topology';

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

  it('gives every topic a consumer function triggered by that topic', () => {
    for (const [topic, { consumer }] of Object.entries(topics)) {
      expect(functions[consumer].trigger).toEqual({ kind: 'topic', topic });
    }
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
