import { describe, expect, it } from '@jest/globals';
import { pythonReferenceOrderPlaced } from './python-reference';

describe('pythonReferenceOrderPlaced', () => {
  it('writes the bytes the Python reference publishes (json.dumps of asdict, default=str)', () => {
    const message = pythonReferenceOrderPlaced({
      event_id: '1b4e28ba-2fa1-4d2e-883f-0016d3cca427',
      occurred_at: new Date('2026-12-02T22:35:55.123Z'),
      correlation_id: null,
      order_id: '6f1c9a52-8d3e-4b7a-9c2d-5e8f0a1b2c3d',
      customer_id: 'c2a1e4f7-3b5d-4e6f-8a9b-0c1d2e3f4a5b',
      total_amount: 10.2 * 3,
    });
    // Printed by Python 3 for the same dataclass.
    expect(message.data.toString('utf8')).toBe(
      '{"event_id": "1b4e28ba-2fa1-4d2e-883f-0016d3cca427", "occurred_at": "2026-12-02 22:35:55.123000", "correlation_id": null, "order_id": "6f1c9a52-8d3e-4b7a-9c2d-5e8f0a1b2c3d", "customer_id": "c2a1e4f7-3b5d-4e6f-8a9b-0c1d2e3f4a5b", "total_amount": 30.599999999999998}',
    );
    expect(message.attributes).toEqual({ event_type: 'OrderPlaced', correlation_id: '' });
  });

  it('spells times, floats and text as Python does', () => {
    const body = (fields: Partial<Parameters<typeof pythonReferenceOrderPlaced>[0]>) =>
      pythonReferenceOrderPlaced({
        event_id: 'e',
        occurred_at: new Date('2026-12-02T22:35:55Z'),
        correlation_id: 'c',
        order_id: 'o',
        customer_id: 'c',
        total_amount: 1,
        ...fields,
      }).data.toString('utf8');

    // str(datetime) leaves out a zero fraction; the correlation id is its str.
    expect(body({})).toBe(
      '{"event_id": "e", "occurred_at": "2026-12-02 22:35:55", "correlation_id": "c", "order_id": "o", "customer_id": "c", "total_amount": 1.0}',
    );
    const amount = (total_amount: number) =>
      /"total_amount": (.*)}$/.exec(body({ total_amount }))![1];
    expect([30, 0.1 + 0.2, 1e16, 9999999999999998, 1e-5, 0.0001, 1e22, -0].map(amount)).toEqual([
      '30.0',
      '0.30000000000000004',
      '1e+16',
      '9999999999999998.0',
      '1e-05',
      '0.0001',
      '1e+22',
      '-0.0',
    ]);
    expect(body({ customer_id: 'cüst-😀' })).toContain(
      '"customer_id": "c\\u00fcst-\\ud83d\\ude00"',
    );
  });
});
