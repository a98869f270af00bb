import { describe, expect, it } from '@jest/globals';
import { generateAnalyticsEvents } from './analytics-bench';

describe('generateAnalyticsEvents', () => {
  const events = generateAnalyticsEvents(2_000, {
    days: 7,
    end: new Date('2026-11-01T00:00:00Z'),
    seed: 3,
  });

  it('makes exactly the events asked for, over the days asked for', () => {
    expect(events).toHaveLength(2_000);
    const times = events.map((event) => Date.parse(event.occurredAt));
    const days = new Set(events.map((event) => event.occurredAt.slice(0, 10)));
    expect(days.size).toBeGreaterThanOrEqual(7);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(Date.parse('2026-10-25T00:00:00Z'));
    // Timed-out orders end a few minutes after the window.
    expect(Math.max(...times)).toBeLessThan(Date.parse('2026-11-01T00:10:00Z'));
  });

  it('holds a realistic mix: mostly confirmed, some declined, out of stock and timed out', () => {
    const count = (type: string) => events.filter((event) => event.type === type).length;
    const placed = count('OrderPlaced');
    expect(count('OrderConfirmed') / placed).toBeGreaterThan(0.75);
    expect(count('OrderConfirmed') / placed).toBeLessThan(0.95);
    const reasons = new Set(
      events.flatMap((event) => (event.type === 'OrderCancelled' ? [event.data.reason] : [])),
    );
    expect(reasons).toEqual(new Set(['out_of_stock', 'payment_declined', 'payment_timeout']));
    expect(count('PaymentRequested')).toBeGreaterThan(count('PaymentSucceeded'));
    expect(count('RefundRequested')).toBeGreaterThan(0);
  });

  it('follows each order in causal order, and delivers a few events twice', () => {
    const placedAt = new Map<string, number>();
    for (const event of events) {
      if (event.type === 'OrderPlaced') placedAt.set(event.subject, Date.parse(event.occurredAt));
      else expect(Date.parse(event.occurredAt)).toBeGreaterThan(placedAt.get(event.subject)!);
    }
    const duplicates = events.length - new Set(events.map((event) => event.id)).size;
    expect(duplicates).toBeGreaterThan(4);
    expect(duplicates).toBeLessThan(60);
  });

  it('gives the same mix for the same seed', () => {
    const again = generateAnalyticsEvents(2_000, {
      days: 7,
      end: new Date('2026-11-01T00:00:00Z'),
      seed: 3,
    });
    expect(again.map((event) => [event.type, event.occurredAt])).toEqual(
      events.map((event) => [event.type, event.occurredAt]),
    );
  });
});
