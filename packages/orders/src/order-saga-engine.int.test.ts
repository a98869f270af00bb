import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent, type EventData, type EventType } from '@orders/events';
import { outboxInsert } from '@orders/idempotency';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { createLogger } from '@orders/runtime';
import { SagaConflictError } from '@orders/saga-engine';
import { paymentIdOf } from '@orders/sagas';
import { sql } from 'kysely';
import { createOrderSagaEngine, type OrderSagaEngine } from './order-saga-engine';

let database: TestDatabase;
let engine: OrderSagaEngine;
let clock = new Date('2026-11-28T10:00:00.000Z');
const log = createLogger({ level: 'error' });

beforeAll(async () => {
  database = await testDatabase('order-saga-engine');
  engine = createOrderSagaEngine(database.db, {
    paymentTimeoutMs: 60_000,
    refundTimeoutMs: 30_000,
    maxRefundRequests: 2,
    maxCompensationAttempts: 3,
    now: () => clock,
  });
});
afterAll(() => database?.close());

/** Places an order row as intake does, and returns its OrderPlaced. */
async function placeOrder(
  items: { sku: string; quantity: number; unitPriceMinor: number }[],
  customerId = 'cust-1',
) {
  const orderId = randomUUID();
  const totalMinor = items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0);
  const placed = createEvent(
    'OrderPlaced',
    { orderId, customerId, currency: 'EUR', items, totalMinor },
    { source: 'test', correlationId: randomUUID() },
  );
  await database.db
    .insertInto('orders')
    .values({
      id: orderId,
      customer_id: customerId,
      currency: 'EUR',
      total_minor: totalMinor,
      status: 'PLACED',
      correlation_id: placed.correlationId,
    })
    .execute();
  await database.db
    .insertInto('order_items')
    .values(
      items.map((item) => ({
        order_id: orderId,
        sku: item.sku,
        quantity: item.quantity,
        unit_price_minor: item.unitPriceMinor,
      })),
    )
    .execute();
  return placed;
}

function followUp<T extends EventType>(
  placed: DomainEvent<'OrderPlaced'>,
  type: T,
  data: Omit<EventData<T>, 'orderId'>,
) {
  return createEvent(type, { orderId: placed.data.orderId, ...data } as EventData<T>, {
    source: 'test',
    correlationId: placed.correlationId,
  });
}

/** Delivers an event as process-order does: one transaction, emitted events collected. */
async function deliver(event: DomainEvent) {
  const emitted: DomainEvent[] = [];
  const status = await database.db.transaction().execute((trx) =>
    engine.apply(trx, event.subject, event as never, {
      log,
      causationId: event.id,
      emitting: (...events) => {
        emitted.push(...events);
        return outboxInsert(events);
      },
    }),
  );
  return { status, emitted };
}

async function stockOf(sku: string) {
  const row = await database.db
    .selectFrom('products')
    .select('stock')
    .where('sku', '=', sku)
    .executeTakeFirstOrThrow();
  return row.stock;
}

async function orderRow(orderId: string) {
  return database.db
    .selectFrom('orders')
    .select(['status', 'cancel_reason'])
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
}

async function history(orderId: string) {
  const rows = await database.db
    .selectFrom('saga_transitions')
    .select(['version', 'from_status', 'to_status', 'cause_type', 'note'])
    .where('saga_id', '=', orderId)
    .orderBy('version')
    .execute();
  return rows.map(
    (row) => `${row.version}: ${row.from_status} -> ${row.to_status} on ${row.cause_type}`,
  );
}

const tea = (quantity: number) => ({ sku: 'TEA-002', quantity, unitPriceMinor: 899 });

describe('the order saga on PostgreSQL', () => {
  it('reserves stock and requests payment, recording each transition', async () => {
    const before = await stockOf('TEA-002');
    const placed = await placeOrder([tea(3)]);
    const { status, emitted } = await deliver(placed);

    expect(status).toBe('AWAITING_PAYMENT');
    expect(await stockOf('TEA-002')).toBe(before - 3);
    expect(await orderRow(placed.data.orderId)).toEqual({
      status: 'AWAITING_PAYMENT',
      cancel_reason: null,
    });
    expect(emitted.map((event) => [event.type, event.data])).toEqual([
      [
        'PaymentRequested',
        {
          orderId: placed.data.orderId,
          paymentId: paymentIdOf(placed.data.orderId),
          customerId: 'cust-1',
          amountMinor: 2697,
          currency: 'EUR',
        },
      ],
    ]);
    expect(emitted[0]).toMatchObject({
      correlationId: placed.correlationId,
      causationId: placed.id,
    });
    expect(await history(placed.data.orderId)).toEqual([
      '1: NEW -> RESERVING_STOCK on OrderPlaced',
      '2: RESERVING_STOCK -> AWAITING_PAYMENT on StockReserved',
    ]);
    const saga = await database.db
      .selectFrom('sagas')
      .select(['version', 'deadline_at'])
      .where('id', '=', placed.data.orderId)
      .executeTakeFirstOrThrow();
    expect(saga).toEqual({ version: 2, deadline_at: new Date(clock.getTime() + 60_000) });
  });

  it('confirms on payment and sells the reserved stock', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    const { status, emitted } = await deliver(
      followUp(placed, 'PaymentSucceeded', {
        paymentId: paymentIdOf(placed.data.orderId),
        providerRef: 'ch_1',
        amountMinor: 899,
        currency: 'EUR',
      }),
    );
    expect(status).toBe('CONFIRMED');
    expect(emitted.map((event) => event.type)).toEqual(['OrderConfirmed']);
    const reservations = await database.db
      .selectFrom('stock_reservations')
      .select('state')
      .where('order_id', '=', placed.data.orderId)
      .execute();
    expect(reservations).toEqual([{ state: 'sold' }]);
  });

  it('cancels an order it cannot fill, without touching stock', async () => {
    const before = await stockOf('TEA-002');
    const placed = await placeOrder([
      tea(2),
      { sku: 'RARE-001', quantity: 1, unitPriceMinor: 2750 },
    ]);
    const { status, emitted } = await deliver(placed);
    expect(status).toBe('CANCELLED');
    expect(await stockOf('TEA-002')).toBe(before);
    expect(await orderRow(placed.data.orderId)).toEqual({
      status: 'CANCELLED',
      cancel_reason: 'out_of_stock',
    });
    expect(emitted.map((event) => [event.type, event.data])).toEqual([
      [
        'OrderCancelled',
        {
          orderId: placed.data.orderId,
          reason: 'out_of_stock',
          detail: 'not enough stock of RARE-001',
        },
      ],
    ]);
  });

  it('never sells more than there is when orders race for the last units', async () => {
    const orders = await Promise.all(
      Array.from({ length: 8 }, () =>
        placeOrder([{ sku: 'GIFT-BOX', quantity: 1, unitPriceMinor: 3900 }]),
      ),
    );
    const statuses = await Promise.all(
      orders.map(async (placed) => (await deliver(placed)).status),
    );
    expect(statuses.filter((status) => status === 'AWAITING_PAYMENT')).toHaveLength(5);
    expect(statuses.filter((status) => status === 'CANCELLED')).toHaveLength(3);
    expect(await stockOf('GIFT-BOX')).toBe(0);
  });

  it('on its deadline voids the payment, releases stock and cancels; then parks when no refund is confirmed', async () => {
    const placed = await placeOrder([tea(2)]);
    await deliver(placed);
    clock = new Date(clock.getTime() + 61_000);
    const published: DomainEvent[] = [];
    // The rows are written in the saga's statement; what is published after commit is kept.
    const outbox = {
      write: async () => {},
      publishCommitted: async (events: readonly DomainEvent[]) => {
        published.push(...events);
        return true;
      },
      relay: async () => 0,
    };
    expect(await engine.wakeDue({ outbox, log })).toBeGreaterThanOrEqual(1);
    expect(await orderRow(placed.data.orderId)).toEqual({
      status: 'CANCELLED',
      cancel_reason: 'payment_timeout',
    });
    const reservations = await database.db
      .selectFrom('stock_reservations')
      .select('state')
      .where('order_id', '=', placed.data.orderId)
      .execute();
    expect(reservations).toEqual([{ state: 'released' }]);
    const mine = published.filter((event) => event.subject === placed.data.orderId);
    expect(mine.map((event) => event.type)).toEqual(['RefundRequested', 'OrderCancelled']);
    const rows = await database.db
      .selectFrom('outbox')
      .select('id')
      .where(
        'id',
        'in',
        mine.map((event) => event.id),
      )
      .execute();
    expect(rows).toHaveLength(2);
    expect(mine[0]!.data).toMatchObject({ reason: 'payment_timeout', amountMinor: 1798 });

    // No PaymentRefunded arrives: asked again at the next deadline, then parked.
    clock = new Date(clock.getTime() + 31_000);
    await engine.wakeDue({ outbox, log });
    clock = new Date(clock.getTime() + 31_000);
    await engine.wakeDue({ outbox, log });
    expect(await orderRow(placed.data.orderId)).toMatchObject({ status: 'NEEDS_ATTENTION' });
    expect((await history(placed.data.orderId)).slice(-3)).toEqual([
      '3: AWAITING_PAYMENT -> CANCELLED on DeadlinePassed',
      '4: CANCELLED -> CANCELLED on DeadlinePassed',
      '5: CANCELLED -> NEEDS_ATTENTION on DeadlinePassed',
    ]);
  });

  it('parks a saga whose compensation keeps failing, after the allowed attempts, and stays visible', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    // Releasing this order's stock fails, as a broken compensation would.
    await sql`
      create or replace function refuse_release() returns trigger language plpgsql as $$
      begin raise exception 'release refused for %', new.order_id; end $$;
      create trigger refuse_release before update on stock_reservations
      for each row when (new.state = 'released' and new.order_id = ${sql.lit(placed.data.orderId)}::uuid)
      execute function refuse_release();
    `.execute(database.db);
    const declined = followUp(placed, 'PaymentFailed', {
      paymentId: paymentIdOf(placed.data.orderId),
      reason: 'declined',
    });

    await expect(deliver(declined)).rejects.toThrow(/release refused/);
    await expect(deliver(declined)).rejects.toThrow(/release refused/);
    expect(await orderRow(placed.data.orderId)).toMatchObject({ status: 'AWAITING_PAYMENT' });
    const parked = await deliver(declined);
    expect(parked).toEqual({ status: 'NEEDS_ATTENTION', emitted: [] });
    expect(await orderRow(placed.data.orderId)).toMatchObject({ status: 'NEEDS_ATTENTION' });
    const saga = await database.db
      .selectFrom('sagas')
      .select(['status', 'failed_attempts', 'last_error'])
      .where('id', '=', placed.data.orderId)
      .executeTakeFirstOrThrow();
    expect(saga).toMatchObject({
      status: 'NEEDS_ATTENTION',
      failed_attempts: 3,
      last_error: expect.stringContaining('release refused'),
    });
    const last = await database.db
      .selectFrom('saga_transitions')
      .select('note')
      .where('saga_id', '=', placed.data.orderId)
      .orderBy('version', 'desc')
      .executeTakeFirstOrThrow();
    expect(last.note).toMatch(/^compensation failed 3 times: .*release refused/);
  });

  it('lets one of two concurrent inputs win and fails the other as retryable', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    const succeeded = followUp(placed, 'PaymentSucceeded', {
      paymentId: paymentIdOf(placed.data.orderId),
      providerRef: 'ch_2',
      amountMinor: 899,
      currency: 'EUR',
    });
    const declined = followUp(placed, 'PaymentFailed', {
      paymentId: paymentIdOf(placed.data.orderId),
      reason: 'declined',
    });
    const results = await Promise.allSettled([deliver(succeeded), deliver(declined)]);
    const failures = results.filter((result) => result.status === 'rejected');
    // Either both serialized (no conflict), or exactly one lost the race, retryably.
    for (const failure of failures)
      expect((failure as PromiseRejectedResult).reason).toBeInstanceOf(SagaConflictError);
    expect(failures.length).toBeLessThanOrEqual(1);
    const saga = await database.db
      .selectFrom('sagas')
      .select(['status', 'version'])
      .where('id', '=', placed.data.orderId)
      .executeTakeFirstOrThrow();
    expect(['CONFIRMED', 'CANCELLED']).toContain(saga.status);
    expect(saga.version).toBe(3);
  });

  it('dead-letters what cannot happen, and asks for redelivery of what came too early', async () => {
    const placed = await placeOrder([tea(1)]);
    const early = followUp(placed, 'PaymentSucceeded', {
      paymentId: paymentIdOf(placed.data.orderId),
      providerRef: 'ch_3',
      amountMinor: 899,
      currency: 'EUR',
    });
    await expect(deliver(early)).rejects.toMatchObject({ name: 'SagaNotReadyError' });
    await deliver(placed);
    await deliver(early);
    const declined = followUp(placed, 'PaymentFailed', {
      paymentId: paymentIdOf(placed.data.orderId),
      reason: 'declined',
    });
    await expect(deliver(declined)).rejects.toMatchObject({ name: 'UnprocessableEventError' });
  });
});
