import { describe, expect, it } from '@jest/globals';
import { createEvent } from './envelope';
import { InvalidEventError } from './invalid-event-error';
import { decodeEnvelope, decodeMessage, encodeEvent } from './pubsub-codec';
import { type PythonOrderPlaced, pythonReferenceOrderPlaced } from './python-reference';

const orderId = '0b0f6a4e-6f8e-4bfc-9d5f-1e1f5b0c9a11';
const correlationId = '5d8f1c2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f';

function orderPlaced() {
  return createEvent(
    'OrderPlaced',
    {
      orderId,
      customerId: 'cust-1',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 3, unitPriceMinor: 1999 }],
      totalMinor: 5997,
    },
    { source: 'place-order', correlationId },
  );
}

function reasonOf(message: Parameters<typeof decodeMessage>[0]): string {
  try {
    decodeMessage(message);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidEventError);
    return (error as InvalidEventError).reason;
  }
  throw new Error('expected the message to be refused');
}

describe('encodeEvent / decodeMessage', () => {
  it('round-trips an event with the attributes filters and DLQ tools need', () => {
    const event = orderPlaced();
    const message = encodeEvent(event);

    expect(message.attributes).toEqual({
      event_type: 'OrderPlaced',
      event_version: '2',
      event_id: event.id,
      correlation_id: correlationId,
    });
    expect(message.orderingKey).toBe(orderId);
    expect(decodeMessage(message)).toEqual(event);
    // A push body carries the data as base64.
    expect(decodeMessage({ ...message, data: message.data.toString('base64') })).toEqual(event);
  });

  it('stamps UTC time, the correlation id and the order as subject', () => {
    const event = orderPlaced();
    expect(event.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(event).toMatchObject({ subject: orderId, correlationId, causationId: null, version: 2 });
  });

  it('refuses data that is not JSON, an invalid envelope, an unknown type or version', () => {
    const valid = orderPlaced();
    const encode = (body: unknown) => ({ data: Buffer.from(JSON.stringify(body)) });

    expect(reasonOf({ data: Buffer.from('{nope') })).toBe('message data is not JSON');
    expect(reasonOf({ data: null })).toBe('message has no data');
    expect(reasonOf(encode({ ...valid, id: 'x' }))).toMatch(/^invalid envelope: id: /);
    expect(reasonOf(encode({ ...valid, extra: 1 }))).toMatch(/invalid envelope: .*extra/);
    expect(reasonOf(encode({ ...valid, type: 'OrderShipped' }))).toBe(
      'unknown event type OrderShipped',
    );
    expect(reasonOf(encode({ ...valid, version: 9 }))).toBe('unknown version 9 of OrderPlaced');
  });

  it('names the field at fault when data fails its schema', () => {
    const valid = orderPlaced();
    const items = [{ sku: 'TEA-001', quantity: 0, unitPriceMinor: 1999 }];
    const reason = reasonOf({
      data: Buffer.from(JSON.stringify({ ...valid, data: { ...valid.data, items } })),
    });
    expect(reason).toMatch(/^OrderPlaced v2 data: data\.items\.0\.quantity: /);
  });

  it('refuses a total that is not the sum of its lines', () => {
    const valid = orderPlaced();
    const body = { ...valid, data: { ...valid.data, totalMinor: 1 } };
    expect(reasonOf({ data: Buffer.from(JSON.stringify(body)) })).toMatch(
      /data\.totalMinor: totalMinor must equal/,
    );
  });

  it('refuses a body whose id differs from its event_id attribute', () => {
    const message = encodeEvent(orderPlaced());
    const attributes = { ...message.attributes, event_id: '11111111-1111-4111-8111-111111111111' };
    expect(reasonOf({ ...message, attributes })).toMatch(/attribute event_id .* differs/);
  });
});

describe('decodeEnvelope (an envelope already parsed: an outbox row)', () => {
  it('reads it as decodeMessage reads its message, and refuses what it refuses', () => {
    const event = orderPlaced();
    expect(decodeEnvelope(JSON.parse(JSON.stringify(event)))).toEqual(
      decodeMessage(encodeEvent(event)),
    );
    const refusal = (envelope: unknown) => {
      try {
        decodeEnvelope(envelope);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidEventError);
        return (error as InvalidEventError).reason;
      }
      throw new Error('expected the envelope to be refused');
    };
    expect(refusal({ ...event, data: { ...event.data, totalMinor: 1 } })).toMatch(
      /^OrderPlaced v2 data: data\.totalMinor: totalMinor must equal/,
    );
    expect(refusal({ ...event, type: 'OrderTeleported' })).toBe(
      'unknown event type OrderTeleported',
    );
    expect(refusal({ ...event, subject: 'someone-else' })).toMatch(/^subject someone-else differs/);
    expect(refusal('not an envelope')).toMatch(/^invalid envelope/);
  });
});

describe('identifiers', () => {
  const upper = (text: string) => text.toUpperCase();

  it('lower-cases uuids, which are case-insensitive on the wire but compared as strings', () => {
    const id = '7d2c4b6a-1e3f-4a5b-8c7d-9e0f1a2b3c4d';
    const causationId = '8c1e2d3f-4a5b-4c6d-9e7f-a0b1c2d3e4f5';
    const event = createEvent(
      'PaymentRequested',
      {
        orderId: upper(orderId),
        paymentId: `pay_${upper(orderId)}`,
        customerId: 'Cust-1',
        amountMinor: 100,
        currency: 'EUR',
      },
      {
        source: 'process-order',
        id: upper(id),
        correlationId: upper(correlationId),
        causationId: upper(causationId),
      },
    );
    const message = encodeEvent(event);
    expect(message.attributes).toMatchObject({ event_id: upper(id) });

    expect(decodeMessage(message)).toEqual({
      ...event,
      id,
      correlationId,
      causationId,
      subject: orderId,
      // The payment id is an opaque string, kept as sent; so is every other field.
      data: { ...event.data, orderId },
    });
    // The event_id attribute is compared without regard to case as well.
    const lowerAttribute = { ...message.attributes, event_id: id };
    expect(decodeMessage({ ...message, attributes: lowerAttribute })).toMatchObject({ id });
  });

  it('lower-cases the order id of an upcast event too', () => {
    const v1 = {
      order_id: upper(orderId),
      customer_id: 'cust-9',
      total_amount: 19.99,
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unit_price: 19.99 }],
    };
    const envelope = { ...orderPlaced(), version: 1, subject: upper(orderId), data: v1 };
    const event = decodeMessage({ data: Buffer.from(JSON.stringify(envelope)) });
    expect(event).toMatchObject({ subject: orderId, data: { orderId } });
  });

  it('refuses an event whose subject is not its data.orderId', () => {
    const valid = orderPlaced();
    const otherOrder = '11111111-1111-4111-8111-111111111111';
    const body = { ...valid, subject: otherOrder };
    expect(reasonOf({ data: Buffer.from(JSON.stringify(body)) })).toBe(
      `subject ${otherOrder} differs from data.orderId ${orderId}`,
    );
    const notAnOrder = { ...valid, subject: 'cust-1' };
    expect(reasonOf({ data: Buffer.from(JSON.stringify(notAnOrder)) })).toBe(
      `subject cust-1 differs from data.orderId ${orderId}`,
    );
  });
});

describe('OrderPlaced v1, the Python reference wire format', () => {
  const v1Data = {
    order_id: orderId,
    customer_id: 'cust-9',
    total_amount: 59.97,
    currency: 'EUR',
    items: [{ sku: 'TEA-001', quantity: 3, unit_price: 19.99 }],
  };

  it('upcasts a v1 envelope to v2 with integer minor units', () => {
    const envelope = { ...orderPlaced(), version: 1, data: v1Data };
    const event = decodeMessage({ data: Buffer.from(JSON.stringify(envelope)) });
    expect(event.version).toBe(2);
    expect(event.data).toEqual({
      orderId,
      customerId: 'cust-9',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 3, unitPriceMinor: 1999 }],
      totalMinor: 5997,
    });
  });

  it('accepts a flat body with its lines, as earlier producers of v1 sent it', () => {
    const pythonBody = {
      event_id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
      occurred_at: '2024-05-01 12:00:00.123456',
      correlation_id: null,
      ...v1Data,
      currency: undefined,
      total_amount: 1000.1,
      items: [{ sku: 'MUG-002', quantity: 1, unit_price: 1000.1 }],
    };
    const event = decodeMessage({
      data: Buffer.from(JSON.stringify(pythonBody)),
      attributes: { event_type: 'OrderPlaced', correlation_id: '' },
    });
    expect(event).toMatchObject({
      id: pythonBody.event_id,
      type: 'OrderPlaced',
      version: 2,
      source: 'python-reference',
      occurredAt: '2024-05-01T12:00:00.123Z',
      correlationId: orderId,
      subject: orderId,
      data: {
        currency: 'USD',
        totalMinor: 100010,
        items: [{ sku: 'MUG-002', unitPriceMinor: 100010 }],
      },
    });
  });

  it('rounds an amount with more decimals than its currency has, half up', () => {
    const { items: _none, ...withoutItems } = v1Data;
    const envelope = {
      ...orderPlaced(),
      version: 1,
      data: { ...withoutItems, total_amount: 59.975 },
    };
    const event = decodeMessage({ data: Buffer.from(JSON.stringify(envelope)) });
    expect(event.data).toEqual({
      orderId,
      customerId: 'cust-9',
      currency: 'EUR',
      totalMinor: 5998,
    });
  });

  it('refuses an amount that minor units cannot count', () => {
    const envelope = { ...orderPlaced(), version: 1, data: { ...v1Data, total_amount: 1e21 } };
    expect(reasonOf({ data: Buffer.from(JSON.stringify(envelope)) })).toBe(
      'cannot upcast OrderPlaced v1: 1e+21 is not a non-negative decimal amount',
    );
  });
});

describe('OrderPlaced from the Python reference producer, byte for byte', () => {
  const customerId = 'c2a1e4f7-3b5d-4e6f-8a9b-0c1d2e3f4a5b';
  const published = (fields: Partial<PythonOrderPlaced> = {}) =>
    pythonReferenceOrderPlaced({
      event_id: '1b4e28ba-2fa1-4d2e-883f-0016d3cca427',
      occurred_at: new Date('2026-12-02T22:35:55.123Z'),
      correlation_id: null,
      order_id: orderId,
      customer_id: customerId,
      total_amount: 10.2 * 3,
      ...fields,
    });

  it('is OrderPlaced v2 in the configured currency, without items, rounded to minor units', () => {
    expect(decodeMessage(published(), { legacyCurrency: 'GBP' })).toEqual({
      id: '1b4e28ba-2fa1-4d2e-883f-0016d3cca427',
      type: 'OrderPlaced',
      version: 2,
      source: 'python-reference',
      // str(datetime.utcnow()) has no zone: it is UTC.
      occurredAt: '2026-12-02T22:35:55.123Z',
      // No correlation id: the order is the correlation.
      correlationId: orderId,
      causationId: null,
      subject: orderId,
      // 30.599999999999998 GBP
      data: { orderId, customerId, currency: 'GBP', totalMinor: 3060 },
    });
  });

  it('is in USD unless configured otherwise, in minor units of that currency', () => {
    expect(decodeMessage(published()).data).toMatchObject({ currency: 'USD', totalMinor: 3060 });
    const yen = decodeMessage(published({ total_amount: 10 }), { legacyCurrency: 'JPY' });
    expect(yen.data).toMatchObject({ currency: 'JPY', totalMinor: 10 });
  });

  it('keeps the correlation id it was given', () => {
    const correlation = '9b2f4c1e-7d3a-4e5b-8f6c-1a2b3c4d5e6f';
    expect(decodeMessage(published({ correlation_id: correlation }))).toMatchObject({
      correlationId: correlation,
    });
  });

  it('refuses a negative amount, with the field at fault', () => {
    expect(reasonOf(published({ total_amount: -1.5 }))).toMatch(
      /^OrderPlaced v1 data: data\.total_amount: /,
    );
  });
});
