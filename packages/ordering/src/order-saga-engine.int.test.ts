import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createEvent,
  type DomainEvent,
  type EventData,
  type EventType,
  paymentIdOf,
} from '@orders/events';
import { skewProcessClock, type TestDatabase, testDatabase } from '@orders/local-stack';
import { createLogger } from '@orders/platform';
import { isRetryable } from '@orders/runtime';
import { createSagaEngine, SagaConflictError } from '@orders/saga-engine';
import { sql } from 'kysely';
import { createOrderSagaEngine, type OrderSagaEngine, orderSagaHandler } from './order-saga-engine';
import { createPostgresOrderStore } from './order-store';
import { insertPlacedOrder } from './testing';

let database: TestDatabase;
let engine: OrderSagaEngine;
const log = createLogger({ level: 'error' });

beforeAll(async () => {
  database = await testDatabase('order-saga-engine');
  engine = createOrderSagaEngine(database.db, {
    paymentTimeoutMs: 60_000,
    refundTimeoutMs: 30_000,
    maxRefundRequests: 2,
    maxCompensationAttempts: 3,
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
  await insertPlacedOrder(database.db, placed);
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

/** Delivers an event as process-order does: its store claims it, emitted events are returned. */
async function deliver(event: DomainEvent) {
  const applied = await engine.apply(event.subject, event as never, {
    log,
    causationId: event.id,
    correlationId: event.correlationId,
  });
  if (applied === 'duplicate') return { status: 'duplicate' as const, emitted: [] };
  return { status: applied?.status, emitted: (applied?.emitted ?? []) as DomainEvent[] };
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

/** What wakeDue hands over for publishing after each commit: recorded. */
function recording(published: DomainEvent[]) {
  return async (events: readonly { type: string }[]) => {
    published.push(...(events as DomainEvent[]));
  };
}

/** Moves the saga's deadline into the past, as time passing would. */
async function expire(orderId: string) {
  await sql`update sagas set deadline_at = now() - interval '1 second' where id = ${orderId}::uuid`.execute(
    database.db,
  );
}

async function databaseNow() {
  const { rows } = await sql<{ now: Date }>`select now() as now`.execute(database.db);
  return rows[0]!.now.getTime();
}

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
    // Each transition records what it emitted: the history shows every step's messages.
    const sent = await database.db
      .selectFrom('saga_transitions')
      .select(['version', 'emitted_event_ids'])
      .where('saga_id', '=', placed.data.orderId)
      .orderBy('version')
      .execute();
    expect(sent).toEqual([
      { version: 1, emitted_event_ids: [] },
      { version: 2, emitted_event_ids: [emitted[0]!.id] },
    ]);
    const saga = await database.db
      .selectFrom('sagas')
      .select(['version', 'deadline_at'])
      .where('id', '=', placed.data.orderId)
      .executeTakeFirstOrThrow();
    expect(saga.version).toBe(2);
    expect(Math.abs(saga.deadline_at!.getTime() - ((await databaseNow()) + 60_000))).toBeLessThan(
      5_000,
    );
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
    await expire(placed.data.orderId);
    const published: DomainEvent[] = [];
    const committed = recording(published);
    expect((await engine.wakeDue({ committed, log })).woken).toBeGreaterThanOrEqual(1);
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
    await expire(placed.data.orderId);
    await engine.wakeDue({ committed, log });
    await expire(placed.data.orderId);
    await engine.wakeDue({ committed, log });
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
    // The rest of the decision is carried out: the order is cancelled, only the release is owed.
    expect(parked.status).toBe('NEEDS_ATTENTION');
    expect(parked.emitted.map((event) => event.type)).toEqual(['OrderCancelled']);
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

  it('lets one of two inputs decided on the same version win, and fails the other as retryable', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    // Two different PaymentSucceeded events (a provider's duplicate webhook, say): both units
    // of work load the saga at version 2 before either commits, so one must lose.
    let loaded = 0;
    let bothLoaded!: () => void;
    const barrier = new Promise<void>((resolve) => {
      bothLoaded = resolve;
    });
    const store = createPostgresOrderStore(database.db, { consumer: 'process-order' });
    const racing = createSagaEngine({
      definition: engine.definition,
      store: {
        ...store,
        transact: (id, eventId, work) =>
          store.transact(id, eventId, async (unit) => {
            if (++loaded === 2) bothLoaded();
            await barrier;
            return work(unit);
          }),
      },
      source: 'process-order',
      maxCompensationAttempts: 3,
      isRetryable,
    });
    const succeeded = (providerRef: string) =>
      followUp(placed, 'PaymentSucceeded', {
        paymentId: paymentIdOf(placed.data.orderId),
        providerRef,
        amountMinor: 899,
        currency: 'EUR',
      });
    const results = await Promise.allSettled(
      [succeeded('ch_2'), succeeded('ch_2b')].map((event) =>
        racing.apply(event.subject, event, {
          log,
          causationId: event.id,
          correlationId: event.correlationId,
        }),
      ),
    );
    const failures = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason] : [],
    );
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(SagaConflictError);
    expect(isRetryable(failures[0])).toBe(true);
    const saga = await database.db
      .selectFrom('sagas')
      .select(['status', 'version'])
      .where('id', '=', placed.data.orderId)
      .executeTakeFirstOrThrow();
    expect(saga).toEqual({ status: 'CONFIRMED', version: 3 });
    // The loser wrote nothing: one OrderConfirmed, one claim.
    expect(await history(placed.data.orderId)).toHaveLength(3);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from outbox
      where event->>'type' = 'OrderConfirmed' and event->>'subject' = ${placed.data.orderId}`.execute(
      database.db,
    );
    expect(rows[0]!.n).toBe(1);
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
    await expect(deliver(declined)).rejects.toMatchObject({ name: 'SagaInputRejectedError' });
  });
});

describe('the order saga on PostgreSQL: payment outcomes of another payment', () => {
  it('sets aside an outcome whose payment id, amount or currency differs: dead-lettered, flagged, never confirmed nor cancelled by it', async () => {
    const placed = await placeOrder([tea(2)]);
    const { orderId } = placed.data;
    await deliver(placed);
    const sagaRow = () =>
      database.db
        .selectFrom('sagas')
        .select(['status', 'version', 'definition_version', 'deadline_at', 'state'])
        .where('id', '=', orderId)
        .executeTakeFirstOrThrow();
    const before = await sagaRow();
    const reservations = () =>
      database.db
        .selectFrom('stock_reservations')
        .select('state')
        .where('order_id', '=', orderId)
        .execute();
    const handle = orderSagaHandler(engine);
    const ownPayment = {
      paymentId: paymentIdOf(orderId),
      providerRef: 'ch_own',
      amountMinor: 1798,
      currency: 'EUR',
    };

    // Another amount: the consumer's permanent-error path (dead-lettered with the reason).
    const cheaper = followUp(placed, 'PaymentSucceeded', { ...ownPayment, amountMinor: 1 });
    await expect(handle(cheaper, { log })).rejects.toMatchObject({
      name: 'UnprocessableEventError',
      message: `PaymentSucceeded of order ${orderId} is not about the payment its saga asked for: amount 1 (asked for 1798)`,
    });
    // Another payment's failure: not cancelled by it either.
    const othersFailure = followUp(placed, 'PaymentFailed', {
      paymentId: 'pay_someone-else',
      reason: 'declined',
    });
    await expect(handle(othersFailure, { log })).rejects.toMatchObject({
      name: 'UnprocessableEventError',
    });

    expect(await sagaRow()).toEqual({
      ...before,
      version: before.version + 2,
      definition_version: engine.definition.version,
      state: { ...before.state, setAside: 2 },
    });
    expect(await orderRow(orderId)).toEqual({ status: 'AWAITING_PAYMENT', cancel_reason: null });
    expect(await reservations()).toEqual([{ state: 'reserved' }]);
    const emitted = await database.db
      .selectFrom('outbox')
      .select('id')
      .where(sql<string>`event->>'causationId'`, 'in', [cheaper.id, othersFailure.id])
      .execute();
    expect(emitted).toEqual([]);
    const notes = await database.db
      .selectFrom('saga_transitions')
      .select(['from_status', 'to_status', 'cause_type', 'cause_event_id', 'note'])
      .where('saga_id', '=', orderId)
      .where('version', '>', before.version)
      .orderBy('version')
      .execute();
    expect(notes).toEqual([
      {
        from_status: 'AWAITING_PAYMENT',
        to_status: 'AWAITING_PAYMENT',
        cause_type: 'PaymentSucceeded',
        cause_event_id: cheaper.id,
        note: `set aside: PaymentSucceeded of order ${orderId} is not about the payment its saga asked for: amount 1 (asked for 1798)`,
      },
      {
        from_status: 'AWAITING_PAYMENT',
        to_status: 'AWAITING_PAYMENT',
        cause_type: 'PaymentFailed',
        cause_event_id: othersFailure.id,
        note: `set aside: PaymentFailed of order ${orderId} is not about the payment its saga asked for: payment id "pay_someone-else" (asked for ${paymentIdOf(orderId)})`,
      },
    ]);
    // Its redelivery (the dead-lettering failed, say) is a duplicate: counted once.
    expect(await handle(cheaper, { log })).toBe('duplicate');

    // Its own payment's outcome still decides.
    const own = followUp(placed, 'PaymentSucceeded', ownPayment);
    expect(await handle(own, { log })).toMatchObject({ emitted: [{ type: 'OrderConfirmed' }] });
    expect(await sagaRow()).toMatchObject({ status: 'CONFIRMED', state: { setAside: 2 } });
    expect(await reservations()).toEqual([{ state: 'sold' }]);
  });
});

describe('the order saga on PostgreSQL: deadlines, failing compensations, unknown orders, clocks', () => {
  const published: DomainEvent[] = [];
  const committed = recording(published);

  beforeAll(async () => {
    // Releasing the stock of an order listed here fails with the SQLSTATE listed with it.
    await sql`
      create table release_refusals (order_id uuid primary key, errcode text not null);
      create or replace function refuse_listed_release() returns trigger language plpgsql as $$
      declare code text;
      begin
        select errcode into code from release_refusals where order_id = new.order_id;
        if code is not null then
          raise exception 'release refused for %', new.order_id using errcode = code;
        end if;
        return new;
      end $$;
      create trigger refuse_listed_release before update on stock_reservations
      for each row when (new.state = 'released') execute function refuse_listed_release();
    `.execute(database.db);
  });

  async function sagaRow(orderId: string) {
    return database.db
      .selectFrom('sagas')
      .select(['status', 'version', 'deadline_at', 'failed_attempts', 'last_error', 'state'])
      .where('id', '=', orderId)
      .executeTakeFirst();
  }

  async function refuseRelease(orderId: string, errcode: string | undefined) {
    await sql`delete from release_refusals where order_id = ${orderId}::uuid`.execute(database.db);
    if (errcode) {
      await sql`insert into release_refusals values (${orderId}::uuid, ${errcode})`.execute(
        database.db,
      );
    }
  }

  async function outboxTypesOf(orderId: string) {
    const { rows } = await sql<{ type: string }>`
      select event->>'type' as type from outbox where event->>'subject' = ${orderId}
      order by created_at, event->>'type'`.execute(database.db);
    return rows.map((row) => row.type);
  }

  it('clears a deadline it ignores, so that the saga is not woken again', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    await deliver(
      followUp(placed, 'PaymentSucceeded', {
        paymentId: paymentIdOf(placed.data.orderId),
        providerRef: 'ch_ignored',
        amountMinor: 899,
        currency: 'EUR',
      }),
    );
    // A confirmed saga has nothing to wait for; its stale deadline is news that no longer matters.
    await expire(placed.data.orderId);
    await engine.wakeDue({ committed, log });
    expect(await sagaRow(placed.data.orderId)).toMatchObject({
      status: 'CONFIRMED',
      version: 3,
      deadline_at: null,
    });
  });

  it('wakes every saga that is due in one run, past one that throws', async () => {
    const orders = [];
    for (let i = 0; i < 130; i++) orders.push(await placeOrder([tea(1)]));
    for (const placed of orders) await deliver(placed);
    const broken = orders[0]!.data.orderId;
    await refuseRelease(broken, 'P0001');
    for (const placed of orders) await expire(placed.data.orderId);

    await engine.wakeDue({ committed, log });

    const { rows } = await sql<{ status: string; n: number }>`
      select status, count(*)::int as n from sagas
      where id = any(${orders.map((placed) => placed.data.orderId)}::uuid[]) group by status`.execute(
      database.db,
    );
    expect(Object.fromEntries(rows.map((row) => [row.status, row.n]))).toEqual({
      CANCELLED: 129,
      AWAITING_PAYMENT: 1,
    });
    expect(await sagaRow(broken)).toMatchObject({ failed_attempts: 1 });
    await refuseRelease(broken, undefined);
  });

  it('retries a compensation that fails transiently without counting it, and never parks for it', async () => {
    const placed = await placeOrder([tea(1)]);
    const { orderId } = placed.data;
    await deliver(placed);
    await refuseRelease(orderId, '55P03'); // lock_not_available: transient
    const declined = followUp(placed, 'PaymentFailed', {
      paymentId: paymentIdOf(orderId),
      reason: 'declined',
    });
    for (let attempt = 0; attempt < 5; attempt++) {
      await expect(deliver(declined)).rejects.toThrow(/release refused/);
    }
    expect(await sagaRow(orderId)).toMatchObject({
      status: 'AWAITING_PAYMENT',
      failed_attempts: 0,
    });
    await refuseRelease(orderId, undefined);
    expect((await deliver(declined)).status).toBe('CANCELLED');
  });

  it('counts only consecutive failures: a saga that moves on starts again from zero', async () => {
    const placed = await placeOrder([tea(1)]);
    const { orderId } = placed.data;
    await deliver(placed);
    await refuseRelease(orderId, 'P0001');
    const declined = followUp(placed, 'PaymentFailed', {
      paymentId: paymentIdOf(orderId),
      reason: 'declined',
    });
    await expect(deliver(declined)).rejects.toThrow(/release refused/);
    expect(await sagaRow(orderId)).toMatchObject({ failed_attempts: 1 });
    await refuseRelease(orderId, undefined);
    expect((await deliver(declined)).status).toBe('CANCELLED');
    expect(await sagaRow(orderId)).toMatchObject({ failed_attempts: 0, last_error: null });
  });

  it('parked at its payment deadline, still asks for the refund, cancels, and owes the stock it could not release', async () => {
    const placed = await placeOrder([tea(2)]);
    const { orderId } = placed.data;
    await deliver(placed);
    await refuseRelease(orderId, 'P0001');
    for (let attempt = 0; attempt < 3; attempt++) {
      await expire(orderId);
      await engine.wakeDue({ committed, log });
    }
    const saga = await sagaRow(orderId);
    expect(saga).toMatchObject({ status: 'NEEDS_ATTENTION', failed_attempts: 3 });
    expect(saga?.state).toMatchObject({
      cancelReason: 'payment_timeout',
      refund: { reason: 'payment_timeout', requests: 1, done: false },
      owed: [{ kind: 'ReleaseStock' }],
    });
    // Still waiting for the refund's confirmation, so it can ask again.
    expect(saga?.deadline_at).not.toBeNull();
    expect(await outboxTypesOf(orderId)).toEqual(
      expect.arrayContaining(['RefundRequested', 'OrderCancelled']),
    );
    expect(await orderRow(orderId)).toEqual({
      status: 'NEEDS_ATTENTION',
      cancel_reason: 'payment_timeout',
    });
    await refuseRelease(orderId, undefined);
  });

  it('dead-letters an OrderPlaced whose order does not exist, and leaves no saga and no stock change', async () => {
    for (const items of [[tea(1)], [{ sku: 'RARE-001', quantity: 1, unitPriceMinor: 2750 }]]) {
      const before = await stockOf('TEA-002');
      const placed = createEvent(
        'OrderPlaced',
        {
          orderId: randomUUID(),
          customerId: 'cust-1',
          currency: 'EUR',
          items,
          totalMinor: items[0]!.unitPriceMinor,
        },
        { source: 'test', correlationId: randomUUID() },
      );
      await expect(deliver(placed)).rejects.toMatchObject({
        name: 'SagaInputRejectedError',
        reason: expect.stringMatching(/order .* does not exist/),
      });
      expect(await sagaRow(placed.data.orderId)).toBeUndefined();
      expect(await stockOf('TEA-002')).toBe(before);
    }
  });

  describe('with this process clock an hour off the database clock', () => {
    const hour = 3_600_000;
    let restoreClock = () => {};
    const skew = (offsetMs: number) => {
      restoreClock();
      restoreClock = skewProcessClock(offsetMs);
    };
    afterEach(() => restoreClock());

    it('sets deadlines and event times by the database clock', async () => {
      skew(hour);
      const placed = await placeOrder([tea(1)]);
      const { emitted } = await deliver(placed);
      const now = await databaseNow();
      const saga = await sagaRow(placed.data.orderId);
      expect(Math.abs(saga!.deadline_at!.getTime() - (now + 60_000))).toBeLessThan(5_000);
      expect(Math.abs(new Date(emitted[0]!.occurredAt).getTime() - now)).toBeLessThan(5_000);
    });

    it('wakes a saga when the database clock says its deadline passed, not this process', async () => {
      const placed = await placeOrder([tea(1)]);
      await deliver(placed);
      skew(hour);
      await engine.wakeDue({ committed, log });
      expect(await sagaRow(placed.data.orderId)).toMatchObject({ status: 'AWAITING_PAYMENT' });
      restoreClock();
      await expire(placed.data.orderId);
      skew(-hour);
      await engine.wakeDue({ committed, log });
      expect(await sagaRow(placed.data.orderId)).toMatchObject({ status: 'CANCELLED' });
    });
  });
});

describe('the order store: inbox claims and definition versions', () => {
  it('lets one of 8 concurrent deliveries of an event move the saga; the rest are duplicates', async () => {
    const placed = await placeOrder([tea(1)]);
    const before = await stockOf('TEA-002');
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => deliver(placed)));
    expect(outcomes.filter((o) => o.status === 'AWAITING_PAYMENT')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'duplicate')).toHaveLength(7);
    expect(await stockOf('TEA-002')).toBe(before - 1);
    expect(await history(placed.data.orderId)).toHaveLength(2);
  });

  it('releases the claim when the unit of work rolls back, so a redelivery is handled', async () => {
    const placed = await placeOrder([tea(1)]);
    const early = followUp(placed, 'PaymentSucceeded', {
      paymentId: paymentIdOf(placed.data.orderId),
      providerRef: 'ch_claim',
      amountMinor: 899,
      currency: 'EUR',
    });
    await expect(deliver(early)).rejects.toMatchObject({ name: 'SagaNotReadyError' });
    await deliver(placed);
    expect((await deliver(early)).status).toBe('CONFIRMED');
    expect((await deliver(early)).status).toBe('duplicate');
  });

  it('saves the definition version, and decides on a version-1 saga through its upgrade', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    const saved = () =>
      database.db
        .selectFrom('sagas')
        .select(['definition_version', 'status', 'state'])
        .where('id', '=', placed.data.orderId)
        .executeTakeFirstOrThrow();
    expect(await saved()).toMatchObject({ definition_version: engine.definition.version });
    // As version 1 saved a parked saga: what it owes named `releaseStock`.
    const { state } = await saved();
    await sql`
      update sagas set definition_version = 1, status = 'NEEDS_ATTENTION',
        state = ${JSON.stringify({
          ...state,
          status: 'NEEDS_ATTENTION',
          cancelReason: 'payment_timeout',
          refund: { reason: 'payment_timeout', requests: 3, done: false },
          owed: [{ kind: 'releaseStock', orderId: placed.data.orderId, compensation: true }],
        })}::jsonb
      where id = ${placed.data.orderId}::uuid`.execute(database.db);
    const refunded = followUp(placed, 'PaymentRefunded', {
      paymentId: paymentIdOf(placed.data.orderId),
      refundId: 'void_1',
      kind: 'void',
      amountMinor: 0,
      currency: 'EUR',
    });
    // Still owed stock: stays parked, now saved by this version with the new name.
    expect((await deliver(refunded)).status).toBe('NEEDS_ATTENTION');
    expect(await saved()).toMatchObject({
      definition_version: engine.definition.version,
      state: { owed: [{ kind: 'ReleaseStock' }], refund: { done: true } },
    });
  });

  it('leaves a saga saved by a newer definition to the deployment that runs it', async () => {
    const placed = await placeOrder([tea(1)]);
    await deliver(placed);
    await sql`update sagas set definition_version = ${engine.definition.version + 1}
      where id = ${placed.data.orderId}::uuid`.execute(database.db);
    const declined = followUp(placed, 'PaymentFailed', {
      paymentId: paymentIdOf(placed.data.orderId),
      reason: 'declined',
    });
    const failure = await deliver(declined).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'SagaNotReadyError', retryable: true });
    expect(await orderRow(placed.data.orderId)).toMatchObject({ status: 'AWAITING_PAYMENT' });
  });
});
