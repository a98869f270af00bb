import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent, type EventData, type EventType } from '@orders/events';
import { createDuckDbWarehouse } from './duckdb-warehouse';
import type { AuditableWarehouse } from './warehouse';

/**
 * Each query on DuckDB against a small event history whose answers are worked out by hand
 * below. The history has what at-least-once delivery produces: the same event loaded more
 * than once, a second PaymentRequested for one payment, and a second final event for one
 * order (the first by occurred_at decides).
 */
let dir: string;
let warehouse: AuditableWarehouse;
let distinctEvents: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warehouse-queries-'));
  warehouse = createDuckDbWarehouse({ path: join(dir, 'warehouse.duckdb') });
});

afterAll(async () => {
  await warehouse?.close();
  await rm(dir, { recursive: true, force: true });
});

function at(iso: string, plusMs = 0): Date {
  return new Date(Date.parse(iso) + plusMs);
}

/** The events of one order, built in time order. */
function history(orderId: string, currency = 'EUR') {
  const correlationId = randomUUID();
  const paymentId = `pay-${orderId}`;
  const events: DomainEvent[] = [];
  const add = <T extends EventType>(type: T, data: EventData<T>, occurredAt: Date) => {
    const event = createEvent(type, data, { source: 'test', correlationId, occurredAt });
    events.push(event as DomainEvent);
    return event;
  };
  return {
    events,
    paymentId,
    placed(occurredAt: Date, totalMinor: number) {
      return add(
        'OrderPlaced',
        {
          orderId,
          customerId: 'cust-1',
          currency,
          items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: totalMinor }],
          totalMinor,
        },
        occurredAt,
      );
    },
    requested(occurredAt: Date, amountMinor: number) {
      return add(
        'PaymentRequested',
        { orderId, paymentId, customerId: 'cust-1', amountMinor, currency },
        occurredAt,
      );
    },
    failed(occurredAt: Date, reason: EventData<'PaymentFailed'>['reason']) {
      return add('PaymentFailed', { orderId, paymentId, reason }, occurredAt);
    },
    confirmed(occurredAt: Date, totalMinor: number) {
      return add('OrderConfirmed', { orderId, totalMinor, currency }, occurredAt);
    },
    cancelled(occurredAt: Date, reason: EventData<'OrderCancelled'>['reason']) {
      return add('OrderCancelled', { orderId, reason }, occurredAt);
    },
  };
}

describe('analytics queries on DuckDB, over the dedup view', () => {
  beforeAll(async () => {
    const day1 = '2026-03-01T10:00:00.000Z';
    const day2 = '2026-03-02T08:00:00.000Z';
    // o1: confirmed in 1000 ms, day 1, EUR 2598. Its OrderPlaced is loaded twice.
    const o1 = history(randomUUID());
    const o1Placed = o1.placed(at(day1), 2598);
    o1.requested(at(day1, 10), 2598);
    o1.confirmed(at(day1, 1000), 2598);
    // o2: placed just before midnight, confirmed on day 2 in 1200 ms, USD 500.
    const o2 = history(randomUUID(), 'USD');
    o2.placed(at('2026-03-01T23:59:59.500Z'), 500);
    o2.requested(at('2026-03-01T23:59:59.600Z'), 500);
    o2.confirmed(at('2026-03-02T00:00:00.700Z'), 500);
    // o3: confirmed in 3000 ms, day 2, EUR 1850.
    const o3 = history(randomUUID());
    o3.placed(at(day2), 1850);
    o3.requested(at(day2, 10), 1850);
    o3.confirmed(at(day2, 3000), 1850);
    // o9: confirmed in 800 ms, day 2, EUR 1299; its OrderConfirmed is delivered three times,
    // and a second OrderConfirmed (another id, later) must not count.
    const o9 = history(randomUUID());
    o9.placed(at(day2, 60_000), 1299);
    o9.requested(at(day2, 60_010), 1299);
    const o9Confirmed = o9.confirmed(at(day2, 60_800), 1299);
    o9.confirmed(at(day2, 65_000), 1299);
    // o4: declined, cancelled in 2000 ms. Its PaymentRequested is loaded twice.
    const o4 = history(randomUUID());
    o4.placed(at(day1), 1000);
    const o4Requested = o4.requested(at(day1, 10), 1000);
    o4.failed(at(day1, 500), 'declined');
    o4.cancelled(at(day1, 2000), 'payment_declined');
    // o5: out of stock, cancelled in 100 ms, no payment.
    const o5 = history(randomUUID());
    o5.placed(at(day1), 1000);
    o5.cancelled(at(day1, 100), 'out_of_stock');
    // o6: insufficient funds, cancelled in 4000 ms.
    const o6 = history(randomUUID());
    o6.placed(at(day1), 1000);
    o6.requested(at(day1, 10), 1000);
    o6.failed(at(day1, 3000), 'insufficient_funds');
    o6.cancelled(at(day1, 4000), 'payment_declined');
    // o7: timed out after 30 s; the payment was voided (not a decline).
    const o7 = history(randomUUID());
    o7.placed(at(day1), 1000);
    o7.requested(at(day1, 10), 1000);
    o7.cancelled(at(day1, 30_000), 'payment_timeout');
    o7.failed(at(day1, 30_100), 'voided');
    // o8: still pending; the saga asked for its payment twice (two event ids, one payment).
    const o8 = history(randomUUID());
    o8.placed(at(day2), 1000);
    o8.requested(at(day2, 10), 1000);
    o8.requested(at(day2, 20_000), 1000);

    const all = [o1, o2, o3, o9, o4, o5, o6, o7, o8].flatMap((order) => order.events);
    distinctEvents = all.length;
    await warehouse.load(all);
    await warehouse.load([o1Placed, o4Requested]);
    await Promise.all([warehouse.load([o9Confirmed]), warehouse.load([o9Confirmed])]);
  });

  it('daily-revenue: confirmed orders and revenue per UTC day (of the confirmation) and currency', async () => {
    expect(await warehouse.query('daily-revenue')).toEqual([
      { day: '2026-03-01', currency: 'EUR', confirmedOrders: 1, revenueMinor: 2598 },
      { day: '2026-03-02', currency: 'EUR', confirmedOrders: 2, revenueMinor: 1850 + 1299 },
      { day: '2026-03-02', currency: 'USD', confirmedOrders: 1, revenueMinor: 500 },
    ]);
  });

  it('funnel: placed, confirmed, cancelled by reason, pending', async () => {
    expect(await warehouse.query('funnel')).toEqual([
      { stage: 'placed', reason: null, orders: 9 },
      { stage: 'confirmed', reason: null, orders: 4 },
      { stage: 'cancelled', reason: 'out_of_stock', orders: 1 },
      { stage: 'cancelled', reason: 'payment_declined', orders: 2 },
      { stage: 'cancelled', reason: 'payment_timeout', orders: 1 },
      { stage: 'pending', reason: null, orders: 1 },
    ]);
  });

  it('decline-rate: failures by reason over distinct payments requested; voided is no decline', async () => {
    expect(await warehouse.query('decline-rate')).toEqual([
      { reason: 'declined', failures: 1, requests: 8, rate: 1 / 8 },
      { reason: 'insufficient_funds', failures: 1, requests: 8, rate: 1 / 8 },
      { reason: 'voided', failures: 1, requests: 8, rate: 1 / 8 },
      { reason: 'all declines', failures: 2, requests: 8, rate: 2 / 8 },
    ]);
  });

  it('latency: nearest-rank p50 and p95 of placed -> final, overall and by outcome', async () => {
    // confirmed: 800, 1000, 1200, 3000; cancelled: 100, 2000, 4000, 30000.
    expect(await warehouse.query('latency')).toEqual([
      { outcome: 'all', orders: 8, p50Ms: 1200, p95Ms: 30_000, maxMs: 30_000 },
      { outcome: 'confirmed', orders: 4, p50Ms: 1000, p95Ms: 3000, maxMs: 3000 },
      { outcome: 'cancelled', orders: 4, p50Ms: 2000, p95Ms: 30_000, maxMs: 30_000 },
    ]);
  });

  it('the audit sees the extra copies in the table and one row per event id in the view', async () => {
    const audit = await warehouse.auditEvents();
    expect(audit).toHaveLength(distinctEvents);
    expect(audit.every((event) => event.exactlyOnce && event.viewRows === 1)).toBe(true);
    expect(audit.filter((event) => event.rawRows > 1).map((e) => [e.eventType, e.rawRows])).toEqual(
      expect.arrayContaining([
        ['OrderPlaced', 2],
        ['PaymentRequested', 2],
        ['OrderConfirmed', 3],
      ]),
    );
    expect(audit.filter((event) => event.rawRows > 1)).toHaveLength(3);
  });
});

describe('latency percentiles', () => {
  it('p50 and p95 are the values at ranks ceil(0.5 n) and ceil(0.95 n)', async () => {
    const local = createDuckDbWarehouse({ path: join(dir, 'percentiles.duckdb') });
    const start = '2026-04-01T12:00:00.000Z';
    // 20 confirmed orders taking 100, 200, ..., 2000 ms, loaded in shuffled order.
    const events = Array.from({ length: 20 }, (_, i) => {
      const order = history(randomUUID());
      order.placed(at(start, i), 100);
      order.confirmed(at(start, i + (i + 1) * 100), 100);
      return order.events;
    });
    const shuffled = [7, 3, 19, 0, 11, 15, 1, 8, 2, 18, 4, 13, 6, 10, 16, 5, 9, 17, 12, 14];
    await local.load(shuffled.flatMap((i) => events[i]!));
    const [all, confirmed, cancelled] = await local.query('latency');
    expect(all).toEqual({ outcome: 'all', orders: 20, p50Ms: 1000, p95Ms: 1900, maxMs: 2000 });
    expect(confirmed).toEqual({ ...all, outcome: 'confirmed' });
    expect(cancelled).toEqual({
      outcome: 'cancelled',
      orders: 0,
      p50Ms: null,
      p95Ms: null,
      maxMs: null,
    });
    await local.close();
  });
});
