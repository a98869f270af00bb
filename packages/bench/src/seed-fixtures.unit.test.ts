import { describe, expect, it } from '@jest/globals';
import { decodeMessage, routes } from '@orders/events';
import { nextEventTopics } from './fixtures/seed-handler/seed-handler';
import { orderPlacedMessage, orderPlacedTopics } from './fixtures/seed-intake/seed-intake';

// The seed-style functions publish what ours publish, where ours publish it: else the
// comparison would be of different work.

describe('the seed-style functions', () => {
  it('publish each event to the topics ours publish it to', () => {
    expect(orderPlacedTopics).toEqual(routes.OrderPlaced);
    expect(nextEventTopics.PaymentRequested).toEqual(routes.PaymentRequested);
    expect(nextEventTopics.OrderCancelled).toEqual(routes.OrderCancelled);
  });

  it("publish OrderPlaced in the Python design's wire format, which our consumers read", () => {
    const order = {
      eventId: '1b4e28ba-2fa1-4d2e-883f-0016d3cca427',
      orderId: '6f1c2a9e-4b7d-4e3a-9c5b-2d8e7f6a1b0c',
      customerId: 'cust-7',
      totalMinor: 2599,
      correlationId: '9b2f4c1e-7d3a-4e5b-8f6c-1a2b3c4d5e6f',
      occurredAt: new Date('2026-12-03T10:00:00.250Z'),
    };
    expect(decodeMessage(orderPlacedMessage(order), { legacyCurrency: 'EUR' })).toMatchObject({
      id: order.eventId,
      type: 'OrderPlaced',
      source: 'python-reference',
      occurredAt: '2026-12-03T10:00:00.250Z',
      correlationId: order.correlationId,
      data: { orderId: order.orderId, customerId: 'cust-7', currency: 'EUR', totalMinor: 2599 },
    });
  });
});
