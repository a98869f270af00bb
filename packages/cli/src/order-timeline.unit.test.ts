import { describe, expect, it } from '@jest/globals';
import { formatOrderTimeline, type OrderRecord, orderTimeline } from './order-timeline';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const correlationId = '13abe174-2b54-4fa4-9929-5393902d9798';
const order: OrderRecord = {
  orderId: '25ac2a1f-a824-495d-a14c-10a9c2d0485b',
  status: 'CONFIRMED',
  cancelReason: null,
  correlationId,
  createdAt: new Date('2026-12-03T10:35:15.496Z'),
  events: [
    {
      id: 'e1',
      type: 'OrderPlaced',
      producer: 'place-order',
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      writtenAt: new Date('2026-12-03T10:35:15.496Z'),
      sentAt: new Date('2026-12-03T10:35:15.500Z'),
      attempts: 0,
      setAsideReason: null,
    },
  ],
};

const line = (fn: string, fields: Record<string, unknown>) =>
  `${fn} | ${JSON.stringify({
    severity: 'INFO',
    correlationId,
    'logging.googleapis.com/trace': `projects/p/traces/${traceId}`,
    ...fields,
  })}`;

describe('orderTimeline', () => {
  const lines = [
    line('payment-handler', {
      severity: 'WARNING',
      message: 'handling failed; Pub/Sub will redeliver',
      time: '2026-12-03T10:35:21.903Z',
      eventType: 'PaymentRequested',
      queueMs: 1907,
      handlingMs: 272,
      error: { name: 'Error', message: 'sandbox provider unavailable (503)' },
    }),
    line('place-order', {
      message: 'POST /orders 202',
      time: '2026-12-03T10:35:17.203Z',
      httpRequest: { status: 202, latency: '2.0630s' },
    }),
    line('process-order', {
      severity: 'WARNING',
      message: 'message dead-lettered',
      time: '2026-12-03T10:35:20.000Z',
      eventType: 'OrderPlaced',
      queueMs: 5,
      handlingMs: 3,
      reason: 'OrderPlaced v2 data: data.currency: bad',
    }),
    line('analytics-loader', {
      message: 'event handled',
      time: '2026-12-03T10:35:18.252Z',
      eventType: 'OrderPlaced',
      queueMs: 1334,
      handlingMs: 9,
    }),
    // Another order's line, a debug line of this one, and what is not a function's JSON line.
    line('analytics-loader', { correlationId: 'other', message: 'event handled', time: 'x' }),
    line('process-order', { message: 'saga loaded', time: '2026-12-03T10:35:19.000Z' }),
    'local-stack | function analytics-loader ready',
    'process-order | {not json',
  ];

  it('reads each hop of the order, in the order handling started, with its outcome', () => {
    const timeline = orderTimeline(order, lines);
    expect(timeline.traceIds).toEqual([traceId]);
    expect(
      timeline.hops.map((hop) => [hop.function, hop.what, hop.outcome, hop.handlingMs, hop.detail]),
    ).toEqual([
      ['place-order', 'POST /orders', 'accepted', 2063, '202'],
      ['analytics-loader', 'OrderPlaced', 'handled', 9, undefined],
      [
        'process-order',
        'OrderPlaced',
        'dead-lettered',
        3,
        'OrderPlaced v2 data: data.currency: bad',
      ],
      ['payment-handler', 'PaymentRequested', 'retried', 272, 'sandbox provider unavailable (503)'],
    ]);
    expect(timeline.hops[0]!.start.toISOString()).toBe('2026-12-03T10:35:15.140Z');
  });

  it('says when the order’s lines are in more than one trace', () => {
    const other = line('process-order', {
      message: 'event handled',
      time: '2026-12-03T10:35:30.000Z',
      eventType: 'PaymentSucceeded',
      'logging.googleapis.com/trace': `projects/p/traces/${'a'.repeat(32)}`,
    });
    const text = formatOrderTimeline(orderTimeline(order, [...lines, other]));
    expect(text).toContain(`traces: ${traceId}, ${'a'.repeat(32)} (2 traces`);
  });

  it('prints the spans of its trace as a tree', () => {
    const span = (spanId: string, name: string, parentSpanId?: string) =>
      JSON.stringify({
        traceId,
        spanId,
        ...(parentSpanId ? { parentSpanId } : {}),
        name,
        service: name.split(' ')[0],
        start: `2026-12-03T10:35:1${spanId}.000Z`,
        durationMs: 5,
        status: 'ok',
      });
    const text = formatOrderTimeline(
      orderTimeline(order, lines, [
        span('6', 'payment-handler PaymentRequested', '5'),
        span('5', 'process-order OrderPlaced', '1'),
        span('1', 'POST /orders'),
        JSON.stringify({ traceId: 'f'.repeat(32), spanId: '9', name: 'elsewhere' }),
      ]),
    );
    expect(text).toContain(
      [
        'spans (3):',
        '  POST /orders [POST] 5 ms',
        '    process-order OrderPlaced [process-order] 5 ms',
        '      payment-handler PaymentRequested [payment-handler] 5 ms',
      ].join('\n'),
    );
  });
});
