import { describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import { toEventRow } from './event-row';
import { normalizeValue } from './normalize-rows';

describe('toEventRow', () => {
  it('maps the envelope onto the columns: UTC day as partition, subject as order id, data as JSON text', () => {
    const orderId = '0b9e3f3c-8f0e-4a55-9a53-1f1c8a1f9d11';
    const event = createEvent(
      'OrderCancelled',
      { orderId, reason: 'out_of_stock' },
      {
        source: 'process-order',
        correlationId: '7d0b0b8e-3f2a-4b8c-9a43-7b2d4c1e5f60',
        causationId: 'c3c2b1a0-1111-4222-8333-944455556666',
        id: 'e1e2e3e4-aaaa-4bbb-8ccc-ddddeeeeffff',
        occurredAt: new Date('2026-12-31T23:59:59.999Z'),
      },
    );
    expect(toEventRow(event, new Date('2027-01-01T00:00:01.000Z'))).toEqual({
      event_id: 'e1e2e3e4-aaaa-4bbb-8ccc-ddddeeeeffff',
      event_type: 'OrderCancelled',
      event_version: 1,
      source: 'process-order',
      occurred_at: '2026-12-31T23:59:59.999Z',
      event_date: '2026-12-31',
      order_id: orderId,
      correlation_id: '7d0b0b8e-3f2a-4b8c-9a43-7b2d4c1e5f60',
      causation_id: 'c3c2b1a0-1111-4222-8333-944455556666',
      data: `{"orderId":"${orderId}","reason":"out_of_stock"}`,
      loaded_at: '2027-01-01T00:00:01.000Z',
    });
  });
});

describe('normalizeValue', () => {
  it('gives plain numbers for both engines and refuses what would lose precision', () => {
    expect(normalizeValue(42n, 'integer', 'n')).toBe(42);
    expect(normalizeValue('42', 'integer', 'n')).toBe(42);
    expect(normalizeValue({ value: '7' }, 'integer', 'n')).toBe(7);
    expect(normalizeValue('0.25', 'ratio', 'r')).toBe(0.25);
    expect(normalizeValue(null, 'integer', 'n')).toBeNull();
    expect(() => normalizeValue(2n ** 60n, 'integer', 'n')).toThrow(/not an exact integer/);
    expect(() => normalizeValue('abc', 'ratio', 'r')).toThrow(/not an exact ratio/);
  });
});
