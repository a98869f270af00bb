import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { seedProducts } from '@orders/db';
import {
  causedBy,
  createEvent,
  type DomainEvent,
  type Envelope,
  encodeEvent,
  paymentIdOf,
  routes,
  topics,
} from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import {
  createOrderSagaEngine,
  type OrderSagaEngine,
  purgeClaims,
  purgeRestingSagaHistory,
  purgeSentOutbox,
} from '@orders/ordering';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { migrateSandboxLedger, type SandboxLedgerTables } from '@orders/payments';
import { createLogger } from '@orders/platform';
import { sql } from 'kysely';
import { checkInvariants, type DeadLetterSeen, type RetentionWindows } from './check-invariants';

// Each weakness of the checker, planted in a real database on top of orders that a real
// saga engine drove, must be reported: the checker is what says the system is right.

let database: TestDatabase;
let engine: OrderSagaEngine;
const log = createLogger({ level: 'error' });
const initialStock = Object.fromEntries(
  seedProducts.map((product) => [product.sku, product.stock]),
);
/** What the warehouse holds: one row per event id, unless a test says otherwise. */
const warehouse = new Map<string, { rows: number; deduplicated: number; orderId?: string }>();

beforeAll(async () => {
  database = await testDatabase('checker-cannot-be-fooled');
  await migrateSandboxLedger(database.db);
  engine = createOrderSagaEngine(database.db, {
    paymentTimeoutMs: 60_000,
    refundTimeoutMs: 30_000,
    maxRefundRequests: 2,
    maxCompensationAttempts: 3,
  });
});
afterAll(() => database?.close());

/** Writes events as their producer would: outbox rows, published, handled, loaded. */
async function produced(events: readonly DomainEvent[]) {
  if (events.length === 0) return;
  await database.db
    .insertInto('outbox')
    .values(events.map((event) => ({ id: event.id, event: JSON.stringify(event) })))
    .onConflict((conflict) => conflict.doNothing())
    .execute();
  await database.db
    .updateTable('outbox')
    .set({ sent_at: new Date() })
    .where(
      'id',
      'in',
      events.map((event) => event.id),
    )
    .execute();
  for (const event of events) {
    await handled(event);
    warehouse.set(event.id, { rows: 1, deduplicated: 1, orderId: event.subject });
  }
}

/**
 * Records that every consumer with an inbox handled `event`; the saga's store claims what
 * `deliver` hands it.
 */
async function handled(event: Envelope) {
  for (const topic of routes[event.type as keyof typeof routes]) {
    if (topic === 'analytics' || topic === 'order-saga') continue;
    await database.db
      .insertInto('processed_events')
      .values({ consumer: topics[topic].consumer, event_id: event.id })
      .onConflict((conflict) => conflict.doNothing())
      .execute();
  }
}

async function deliver(event: DomainEvent) {
  const applied = await engine.apply(event.subject, event as never, {
    log,
    causationId: event.id,
    correlationId: event.correlationId,
  });
  const emitted = (applied === 'duplicate' ? [] : (applied?.emitted ?? [])) as DomainEvent[];
  await produced(emitted);
  return emitted;
}

async function ledger(
  orderId: string,
  kind: 'charge' | 'refund',
  amount: number,
  key = `${paymentIdOf(orderId)}:${kind}`,
) {
  await database.db
    .withTables<SandboxLedgerTables>()
    .insertInto('sandbox_provider_operations')
    .values({
      idempotency_key: key,
      kind,
      payment_id: paymentIdOf(orderId),
      order_id: orderId,
      customer_id: 'c',
      amount_minor: amount,
      currency: 'EUR',
      outcome: 'succeeded',
      provider_ref: `ref-${key}`,
      charge_key: kind === 'refund' ? `${paymentIdOf(orderId)}:charge` : null,
    })
    .execute();
}

async function payment(orderId: string, status: 'charged' | 'voided' | 'declined', amount: number) {
  await database.db
    .insertInto('payments')
    .values({
      payment_id: paymentIdOf(orderId),
      order_id: orderId,
      customer_id: 'c',
      amount_minor: amount,
      currency: 'EUR',
      status,
    })
    .execute();
}

/** An order placed by intake and driven by the saga to AWAITING_PAYMENT. */
async function awaitingPayment(quantity = 2) {
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId: 'c',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity, unitPriceMinor: 1299 }],
      totalMinor: 1299 * quantity,
    },
    { source: 'place-order', correlationId: randomUUID() },
  );
  await insertPlacedOrder(database.db, placed);
  await produced([placed]);
  const [requested] = await deliver(placed);
  return { placed, requested: requested as DomainEvent<'PaymentRequested'> };
}

/** An order the saga confirmed after a charge at the provider. */
async function confirmed() {
  const { placed, requested } = await awaitingPayment();
  const { orderId, totalMinor } = placed.data;
  await ledger(orderId, 'charge', totalMinor);
  await payment(orderId, 'charged', totalMinor);
  const succeeded = createEvent(
    'PaymentSucceeded',
    {
      orderId,
      paymentId: paymentIdOf(orderId),
      providerRef: 'ch',
      amountMinor: totalMinor,
      currency: 'EUR',
    },
    causedBy(requested, 'payment-handler'),
  );
  await produced([succeeded]);
  await deliver(succeeded);
  return placed;
}

async function violationsOf(
  orderId: string,
  options: { deadLetters?: DeadLetterSeen[]; retention?: RetentionWindows } = {},
): Promise<string[]> {
  const found = await checkInvariants({
    db: database.db,
    initialStock,
    warehouse,
    ...options,
  });
  return found
    .filter((violation) => violation.orderId === orderId)
    .map((violation) => `${violation.invariant}: ${violation.detail}`);
}

function letterOf(event: Envelope, topic: string): DeadLetterSeen {
  const { data, attributes } = encodeEvent(event);
  return { topic, data, attributes: { ...attributes, dlq_reason: 'test' } };
}

describe('the invariant checker cannot be fooled', () => {
  it('finds nothing wrong with orders a real saga drove', async () => {
    const order = await confirmed();
    expect(await violationsOf(order.data.orderId)).toEqual([]);
  });

  it('excuses an unfinished order only by a dead letter of that order, on its saga path', async () => {
    const { placed, requested } = await awaitingPayment();
    const { orderId } = placed.data;
    const other = await awaitingPayment();
    // A letter that only carries the order's correlation id (clients choose it).
    const forged = letterOf(other.requested, 'payments');
    forged.attributes = { ...forged.attributes, correlation_id: placed.correlationId };
    expect(await violationsOf(orderId, { deadLetters: [forged] })).toEqual([
      expect.stringMatching(/^1: order is AWAITING_PAYMENT/),
    ]);
    // A letter of the order, but off its path: analytics refusing its OrderPlaced.
    expect(await violationsOf(orderId, { deadLetters: [letterOf(placed, 'analytics')] })).toEqual([
      expect.stringMatching(/^1: order is AWAITING_PAYMENT/),
    ]);
    // Its payment request, refused on payments: that is why it waits.
    expect(await violationsOf(orderId, { deadLetters: [letterOf(requested, 'payments')] })).toEqual(
      [],
    );
  });

  it('checks money for every order whatever its status, against the payments the service recorded', async () => {
    // Parked with half its money refunded.
    const parked = await confirmed();
    await database.db
      .updateTable('orders')
      .set({ status: 'NEEDS_ATTENTION' })
      .where('id', '=', parked.data.orderId)
      .execute();
    await database.db
      .updateTable('sagas')
      .set({ status: 'NEEDS_ATTENTION' })
      .where('id', '=', parked.data.orderId)
      .execute();
    await ledger(parked.data.orderId, 'refund', parked.data.totalMinor / 2);
    expect(await violationsOf(parked.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^2: NEEDS_ATTENTION order of 2598 nets 1299/),
      ]),
    );

    // Voided on our side, charged at the provider.
    const { placed } = await awaitingPayment();
    await payment(placed.data.orderId, 'voided', placed.data.totalMinor);
    await ledger(placed.data.orderId, 'charge', placed.data.totalMinor);
    expect(await violationsOf(placed.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^2: payment .* is voided but the provider charged 2598/),
      ]),
    );
  });

  it('compares reservations with the order, and wants sold stock behind a confirmed order', async () => {
    const order = await confirmed();
    await database.db
      .deleteFrom('stock_reservations')
      .where('order_id', '=', order.data.orderId)
      .execute();
    expect(await violationsOf(order.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^3: CONFIRMED order holds .*TEA-001 sold 0 of 2/),
      ]),
    );

    const { placed } = await awaitingPayment(3);
    await database.db
      .updateTable('stock_reservations')
      .set({ quantity: 1 })
      .where('order_id', '=', placed.data.orderId)
      .execute();
    expect(await violationsOf(placed.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^3: AWAITING_PAYMENT order holds .*TEA-001 reserved 1 of 3/),
      ]),
    );
  });

  it('checks transitions against the documented saga, and the order against its saga', async () => {
    const order = await confirmed();
    const { orderId } = order.data;
    // A self-transition that emits what the documented saga never emits there.
    const again = createEvent(
      'OrderConfirmed',
      { orderId, totalMinor: order.data.totalMinor, currency: 'EUR' },
      { source: 'process-order', correlationId: order.correlationId },
    );
    await produced([again]);
    await database.db
      .insertInto('saga_transitions')
      .values({
        saga_id: orderId,
        version: 4,
        from_status: 'CONFIRMED',
        to_status: 'CONFIRMED',
        cause_type: 'DeadlinePassed',
        emitted_event_ids: [again.id],
      })
      .execute();
    await database.db.updateTable('sagas').set({ version: 4 }).where('id', '=', orderId).execute();
    expect(await violationsOf(orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^4: CONFIRMED -> CONFIRMED on DeadlinePassed emitting OrderConfirmed/,
        ),
      ]),
    );

    // A first transition that does not start from NEW.
    const first = await confirmed();
    await database.db
      .updateTable('saga_transitions')
      .set({ from_status: 'RESERVING_STOCK' })
      .where('saga_id', '=', first.data.orderId)
      .where('version', '=', 1)
      .execute();
    expect(await violationsOf(first.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^4: the first transition starts from RESERVING_STOCK/),
      ]),
    );

    // The order's status disagrees with its saga's.
    const disagreeing = await confirmed();
    await database.db
      .updateTable('orders')
      .set({ status: 'CANCELLED' })
      .where('id', '=', disagreeing.data.orderId)
      .execute();
    expect(await violationsOf(disagreeing.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^4: order is CANCELLED but its saga is CONFIRMED/),
      ]),
    );

    // A saga without an order, and an order without a saga.
    const orphan = randomUUID();
    await database.db
      .insertInto('sagas')
      .values({
        id: orphan,
        type: 'order',
        status: 'CANCELLED',
        version: 1,
        state: '{}',
        correlation_id: randomUUID(),
      })
      .execute();
    expect(await violationsOf(orphan)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^4: saga has no order/)]),
    );
    const sagaless = await confirmed();
    await database.db
      .deleteFrom('saga_transitions')
      .where('saga_id', '=', sagaless.data.orderId)
      .execute();
    await database.db.deleteFrom('sagas').where('id', '=', sagaless.data.orderId).execute();
    expect(await violationsOf(sagaless.data.orderId)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^4: order has no saga/)]),
    );
  });

  it('compares warehouse and outbox both ways, and wants every routed consumer to have handled each event', async () => {
    const order = await confirmed();
    const stranger = randomUUID();
    warehouse.set(stranger, { rows: 1, deduplicated: 1 });
    const found = await checkInvariants({ db: database.db, initialStock, warehouse });
    warehouse.delete(stranger);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          invariant: 5,
          detail: `the warehouse holds event ${stranger}, which no producer wrote`,
        }),
      ]),
    );

    const { placed, requested } = await awaitingPayment();
    await database.db.deleteFrom('processed_events').where('event_id', '=', requested.id).execute();
    expect(await violationsOf(placed.data.orderId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^6: PaymentRequested ${requested.id} routed to payments was never handled by payment-handler`,
          ),
        ),
      ]),
    );
    expect(await violationsOf(order.data.orderId)).toEqual([]);
  });

  it('reads one snapshot: what commits while it runs is not half seen', async () => {
    let planted = false;
    // A new order with its charge commits between the checker's first query and the rest.
    const racing = database.db.withPlugin({
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        if (!planted) {
          planted = true;
          await plantChargedOrder();
        }
        return args.result;
      },
    });
    const found = await checkInvariants({ db: racing, initialStock, warehouse });
    expect(planted).toBe(true);
    expect(found.filter((violation) => violation.orderId === racedOrderId)).toEqual([]);
  });
});

let racedOrderId = '';
/** On another connection: an order that a reader which saw its charge but not its row would flag. */
async function plantChargedOrder() {
  racedOrderId = randomUUID();
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId: racedOrderId,
      customerId: 'c',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
      totalMinor: 1299,
    },
    { source: 'place-order', correlationId: randomUUID() },
  );
  await database.db
    .insertInto('outbox')
    .values({ id: placed.id, event: JSON.stringify(placed) })
    .execute();
  await ledger(racedOrderId, 'charge', 1299);
}

describe('the invariant checker after retention', () => {
  const day = 86_400;
  // Housekeeping's default windows.
  const retention: RetentionWindows = {
    sentOutboxSeconds: 7 * day,
    processedEventsSeconds: 30 * day,
    sagaHistorySeconds: 90 * day,
  };

  /** Moves every row of the order back `days` days: as if it was placed and driven then. */
  async function age(orderId: string, days: number) {
    const back = sql`make_interval(days => ${days})`;
    const db = database.db;
    await sql`update orders set created_at = created_at - ${back} where id = ${orderId}::uuid`.execute(
      db,
    );
    await sql`update sagas set created_at = created_at - ${back}, updated_at = updated_at - ${back}
      where id = ${orderId}::uuid`.execute(db);
    await sql`update saga_transitions set at = at - ${back} where saga_id = ${orderId}::uuid`.execute(
      db,
    );
    await sql`update processed_events set processed_at = processed_at - ${back}
      where event_id in (select id from outbox where event->>'subject' = ${orderId})`.execute(db);
    await sql`update outbox set created_at = created_at - ${back}, sent_at = sent_at - ${back}
      where event->>'subject' = ${orderId}`.execute(db);
  }

  /** Retention as housekeeping runs it, with the same windows. */
  async function purge() {
    const batches = { batchSize: 100, maxRows: 100_000 };
    const deleted = [
      await purgeClaims(database.db, {
        olderThanSeconds: retention.processedEventsSeconds,
        ...batches,
      }),
      await purgeSentOutbox(database.db, {
        olderThanSeconds: retention.sentOutboxSeconds,
        ...batches,
      }),
      await purgeRestingSagaHistory(database.db, {
        olderThanSeconds: retention.sagaHistorySeconds,
        ...batches,
      }),
    ];
    return deleted.map((purged) => purged.deleted);
  }

  async function rowsOf(orderId: string) {
    const { rows } = await sql<{ outbox: number; claims: number; history: number }>`
      select
        (select count(*)::int from outbox where event->>'subject' = ${orderId}) as outbox,
        (select count(*)::int from processed_events where event_id in (
          select (e->>'id')::uuid from jsonb_array_elements(${JSON.stringify([...warehouse].filter(([, counts]) => counts.orderId === orderId).map(([id]) => ({ id })))}::jsonb) e)) as claims,
        (select count(*)::int from saga_transitions where saga_id = ${orderId}::uuid) as history`.execute(
      database.db,
    );
    return rows[0]!;
  }

  it('finds nothing wrong where housekeeping purged what its windows let it, and would without them', async () => {
    // Confirmed 100 days ago: its outbox rows, claims and history all gone.
    const longConfirmed = (await confirmed()).data.orderId;
    await age(longConfirmed, 100);
    // Confirmed 10 days ago: its outbox rows gone, its claims and history kept.
    const confirmedLately = (await confirmed()).data.orderId;
    await age(confirmedLately, 10);
    // Awaiting payment 40 days, its PaymentRequested dead-lettered: rows and claims gone,
    // its history kept (not at rest), the dead letter still there.
    const { placed, requested } = await awaitingPayment();
    const stuck = placed.data.orderId;
    await age(stuck, 40);
    const deadLetters = [letterOf(requested, 'payments')];

    await purge();
    expect(await rowsOf(longConfirmed)).toEqual({ outbox: 0, claims: 0, history: 0 });
    expect(await rowsOf(confirmedLately)).toMatchObject({ outbox: 0, history: 3 });
    expect((await rowsOf(confirmedLately)).claims).toBeGreaterThan(0);
    expect(await rowsOf(stuck)).toEqual({ outbox: 0, claims: 0, history: 2 });

    for (const orderId of [longConfirmed, confirmedLately, stuck]) {
      expect(await violationsOf(orderId, { deadLetters, retention })).toEqual([]);
      // Not told of retention, the checker asks for every row: the test can fail.
      expect(await violationsOf(orderId, { deadLetters })).not.toEqual([]);
    }
  });

  it('still reports what retention never deletes when it is missing: young rows, the history of a saga not at rest or moved lately', async () => {
    // Young: its emitted rows, their claims and warehouse rows must all be there.
    const young = await confirmed();
    const youngId = young.data.orderId;
    const { rows: emitted } = await sql<{ id: string; type: string }>`
      select id, event->>'type' as type from outbox where event->>'subject' = ${youngId}`.execute(
      database.db,
    );
    const requested = emitted.find((row) => row.type === 'PaymentRequested')!.id;
    const confirmation = emitted.find((row) => row.type === 'OrderConfirmed')!.id;
    await sql`delete from processed_events where event_id = ${requested}::uuid`.execute(
      database.db,
    );
    await sql`delete from outbox where id = ${confirmation}::uuid`.execute(database.db);
    expect(await violationsOf(youngId, { retention })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(`^6: PaymentRequested ${requested} routed to payments was never handled`),
        ),
        expect.stringMatching(
          new RegExp(
            `^4: AWAITING_PAYMENT -> CONFIRMED on PaymentSucceeded emitting \\(missing ${confirmation}\\)`,
          ),
        ),
        `5: the warehouse holds event ${confirmation}, which no producer wrote`,
      ]),
    );

    // At rest 10 days (the history window is 90), and parked 200 days (never at rest): their
    // history is kept, so a saga without it is wrong.
    const lately = (await confirmed()).data.orderId;
    await age(lately, 10);
    const { placed } = await awaitingPayment();
    const parked = placed.data.orderId;
    await sql`update sagas set status = 'NEEDS_ATTENTION' where id = ${parked}::uuid`.execute(
      database.db,
    );
    await sql`update orders set status = 'NEEDS_ATTENTION' where id = ${parked}::uuid`.execute(
      database.db,
    );
    await age(parked, 200);
    await sql`delete from saga_transitions where saga_id = any(${[lately, parked]}::uuid[])`.execute(
      database.db,
    );
    expect(await violationsOf(lately, { retention })).toEqual(
      expect.arrayContaining(['4: saga is CONFIRMED at version 3 with no history']),
    );
    expect(await violationsOf(parked, { retention })).toEqual(
      expect.arrayContaining(['4: saga is NEEDS_ATTENTION at version 2 with no history']),
    );
  });
});
