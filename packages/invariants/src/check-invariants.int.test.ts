import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { seedProducts } from '@orders/db';
import { createEvent } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { insertOutboxRows } from '@orders/messaging/testing';
import { migrateSandboxLedger, type SandboxLedgerTables } from '@orders/payments';
import { checkInvariants } from './check-invariants';

// The checker must find what it is for: each broken invariant, planted here, is reported.
let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('check-invariants');
  await migrateSandboxLedger(database.db);
});
afterAll(() => database?.close());

const initialStock = Object.fromEntries(
  seedProducts.map((product) => [product.sku, product.stock]),
);

async function order(status: 'AWAITING_PAYMENT' | 'CONFIRMED' | 'CANCELLED', total = 1000) {
  const id = randomUUID();
  const correlationId = randomUUID();
  await database.db
    .insertInto('orders')
    .values({
      id,
      customer_id: 'c',
      currency: 'EUR',
      total_minor: total,
      status,
      correlation_id: correlationId,
    })
    .execute();
  return { id, correlationId };
}

async function charge(orderId: string, amount: number, key = randomUUID()) {
  await database.db
    .withTables<SandboxLedgerTables>()
    .insertInto('sandbox_provider_operations')
    .values({
      idempotency_key: key,
      kind: 'charge',
      payment_id: `pay_${orderId}`,
      order_id: orderId,
      customer_id: 'c',
      amount_minor: amount,
      currency: 'EUR',
      outcome: 'succeeded',
      provider_ref: key,
    })
    .execute();
}

describe('checkInvariants', () => {
  it('finds nothing wrong on a fresh system', async () => {
    expect(await checkInvariants({ db: database.db, initialStock })).toEqual([]);
  });

  it('reports each broken invariant with its order and correlation id', async () => {
    const stuck = await order('AWAITING_PAYMENT');
    const twice = await order('CONFIRMED');
    await charge(twice.id, 1000);
    await charge(twice.id, 1000);
    const keptMoney = await order('CANCELLED');
    await charge(keptMoney.id, 1000);
    await database.db
      .updateTable('products')
      .set({ stock: initialStock['TEA-001']! - 1 })
      .where('sku', '=', 'TEA-001')
      .execute();
    const jumped = await order('CONFIRMED');
    await charge(jumped.id, 1000);
    await database.db
      .insertInto('sagas')
      .values({
        id: jumped.id,
        type: 'order',
        status: 'CONFIRMED',
        version: 1,
        state: '{}',
        correlation_id: jumped.correlationId,
      })
      .execute();
    await database.db
      .insertInto('saga_transitions')
      .values({
        saga_id: jumped.id,
        version: 1,
        from_status: null,
        to_status: 'CONFIRMED',
        cause_type: 'OrderPlaced',
      })
      .execute();
    const unsent = createEvent(
      'OrderConfirmed',
      { orderId: jumped.id, totalMinor: 1000, currency: 'EUR' },
      { source: 'test', correlationId: randomUUID() },
    );
    await insertOutboxRows(database.db, [unsent]);

    const found = await checkInvariants({
      db: database.db,
      initialStock,
      warehouse: new Map([[unsent.id, { rows: 2, deduplicated: 2 }]]),
    });
    expect(found).toEqual(
      expect.arrayContaining([
        {
          invariant: 1,
          orderId: stuck.id,
          correlationId: stuck.correlationId,
          detail:
            "order is AWAITING_PAYMENT, not final, and no dead letter of it on its saga's path",
        },
        {
          invariant: 2,
          orderId: twice.id,
          correlationId: twice.correlationId,
          detail: 'charged 2 times',
        },
        {
          invariant: 2,
          orderId: keptMoney.id,
          correlationId: keptMoney.correlationId,
          detail: 'CANCELLED order of 1000 nets 1000',
        },
        {
          invariant: 3,
          detail: `TEA-001: available ${initialStock['TEA-001']! - 1} + reserved 0 + sold 0 != ${initialStock['TEA-001']}`,
        },
        {
          invariant: 4,
          orderId: jumped.id,
          correlationId: jumped.correlationId,
          detail:
            'NEW -> CONFIRMED on OrderPlaced emitting nothing: not a move of the documented saga',
        },
        expect.objectContaining({
          invariant: 5,
          orderId: jumped.id,
          detail: expect.stringContaining('has 2 rows in the dedup view'),
        }),
        expect.objectContaining({
          invariant: 6,
          orderId: jumped.id,
          detail: expect.stringContaining('never published'),
        }),
        expect.objectContaining({ invariant: 7, orderId: jumped.id }),
      ]),
    );
    // Which dead letters excuse an unfinished order: see checker-cannot-be-fooled.int.test.ts.
  });
});
