import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import { type TestDatabase, testDatabase, waiterShowing } from '@orders/local-stack';
import { UnprocessableEventError } from '@orders/runtime';
import { sql } from 'kysely';
import { createPostgresPaymentStore, type PaymentStore } from './payment-store';

let database: TestDatabase;
let store: PaymentStore;
const waitFor = waiterShowing([], 20);
beforeAll(async () => {
  database = await testDatabase('payment-store');
  store = createPostgresPaymentStore(database.db, { consumer: 'payment-handler' });
});
afterAll(() => database?.close());

function payment() {
  const orderId = randomUUID();
  const paymentId = `pay_${orderId}`;
  const succeeded = createEvent(
    'PaymentSucceeded',
    { orderId, paymentId, providerRef: 'ch_1', amountMinor: 1299, currency: 'EUR' },
    { source: 'payment-handler', correlationId: randomUUID() },
  );
  const row = {
    payment_id: paymentId,
    order_id: orderId,
    customer_id: 'cust-1',
    amount_minor: 1299,
    currency: 'EUR',
    status: 'charged' as const,
    provider_ref: 'ch_1',
  };
  return { paymentId, succeeded, row };
}

async function written(paymentId: string, eventId: string) {
  const { rows } = await sql<{ payments: number; outbox: number; claims: number }>`
    select (select count(*)::int from payments where payment_id = ${paymentId}) as payments,
      (select count(*)::int from outbox where id = ${eventId}::uuid) as outbox,
      (select count(*)::int from processed_events where event_id = ${eventId}::uuid) as claims`.execute(
    database.db,
  );
  return rows[0]!;
}

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('the payment store', () => {
  it('claims the event and commits the payment with its outbox rows; a redelivery is a duplicate', async () => {
    const { paymentId, succeeded, row } = payment();
    const eventId = randomUUID();
    const emitted = await store.transact(eventId, paymentId, (unit) => {
      expect(unit.payment).toBeUndefined();
      return unit.commit(row, [succeeded]);
    });
    expect(emitted).toEqual([succeeded]);
    expect(await written(paymentId, succeeded.id)).toEqual({ payments: 1, outbox: 1, claims: 0 });
    expect(await written(paymentId, eventId)).toMatchObject({ claims: 1 });

    let ran = false;
    const again = await store.transact(eventId, paymentId, async () => {
      ran = true;
    });
    expect(again).toBe('duplicate');
    expect(ran).toBe(false);
  });

  it('writes nothing and keeps no claim when the work fails, so a redelivery runs it', async () => {
    const { paymentId, succeeded, row } = payment();
    const eventId = randomUUID();
    await expect(
      store.transact(eventId, paymentId, async (unit) => {
        await unit.commit(row, [succeeded]);
        throw new Error('provider timed out');
      }),
    ).rejects.toThrow('provider timed out');
    expect(await written(paymentId, succeeded.id)).toEqual({ payments: 0, outbox: 0, claims: 0 });
    expect(await store.transact(eventId, paymentId, (unit) => unit.commit(row, []))).toEqual([]);
    expect(await written(paymentId, eventId)).toMatchObject({ payments: 1, claims: 1 });
  });

  it('serializes work on one payment: the second reads what the first recorded, at a later time', async () => {
    const { paymentId, row } = payment();
    const holding = gate();
    const held = gate();
    let releasedAt = 0;
    const first = store.transact(randomUUID(), paymentId, async (unit) => {
      held.open();
      await holding.opened;
      await unit.commit(row, []);
      const { rows } = await sql<{ at: Date }>`select clock_timestamp() as at`.execute(database.db);
      releasedAt = rows[0]!.at.getTime();
    });
    await held.opened;
    const second = store.transact(randomUUID(), paymentId, async (unit) => ({
      status: unit.payment?.status,
      now: unit.now.getTime(),
    }));
    // The second waits for the lock while the first holds it.
    await waitFor(
      'the second transaction to wait for the payment lock',
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
            and wait_event = 'advisory'`.execute(database.db);
        return rows[0]!.n === 1;
      },
      10_000,
    );
    holding.open();
    await first;
    const seen = await second;
    expect(seen).toMatchObject({ status: 'charged' });
    if (seen === 'duplicate') throw new Error('not a duplicate');
    expect(seen.now).toBeGreaterThanOrEqual(releasedAt);
  });

  it('refuses an update that moves a payment to another order, changes the money charged, or takes a charged payment back', async () => {
    const { paymentId, row } = payment();
    await store.transact(randomUUID(), paymentId, (unit) => unit.commit(row, []));
    const refused = [
      [{ ...row, order_id: randomUUID() }, /it is of order .*, not /],
      [{ ...row, amount_minor: 1300 }, /it was charged 1299 EUR, not 1300 EUR/],
      [{ ...row, currency: 'USD' }, /it was charged 1299 EUR, not 1299 USD/],
      [{ ...row, status: 'voided' as const }, /it is charged and cannot become voided/],
      [{ ...row, status: 'declined' as const }, /it is charged and cannot become declined/],
      [{ ...row, payment_id: `${paymentId}-2` }, /the update is of payment /],
    ] as const;
    for (const [update, reason] of refused) {
      const eventId = randomUUID();
      const { succeeded } = payment();
      const attempt = store.transact(eventId, paymentId, (unit) =>
        unit.commit(update, [succeeded]),
      );
      await expect(attempt).rejects.toThrow(UnprocessableEventError);
      await expect(
        store.transact(randomUUID(), paymentId, (unit) => unit.commit(update, [])),
      ).rejects.toThrow(reason);
      // Nothing written, and no claim: the consumer dead-letters the event with the reason.
      expect(await written(paymentId, succeeded.id)).toMatchObject({ payments: 1, outbox: 0 });
      expect(await written(paymentId, eventId)).toMatchObject({ claims: 0 });
    }
    expect(
      await database.db
        .selectFrom('payments')
        .select(['order_id', 'amount_minor', 'currency', 'status'])
        .where('payment_id', '=', paymentId)
        .executeTakeFirstOrThrow(),
    ).toEqual({ order_id: row.order_id, amount_minor: 1299, currency: 'EUR', status: 'charged' });

    // Refunded, as charged: then nothing changes it any more.
    const refunded = { ...row, status: 'refunded' as const, refund_id: 're_1' };
    await store.transact(randomUUID(), paymentId, (unit) => unit.commit(refunded, []));
    await expect(
      store.transact(randomUUID(), paymentId, (unit) => unit.commit(row, [])),
    ).rejects.toThrow(/it is refunded and cannot become charged/);
  });

  it('answers a duplicate without taking the lock another transaction holds', async () => {
    const { paymentId, row } = payment();
    const handled = randomUUID();
    await store.transact(handled, paymentId, (unit) => unit.commit(row, []));
    const holding = gate();
    const held = gate();
    const other = store.transact(randomUUID(), paymentId, async () => {
      held.open();
      await holding.opened;
    });
    await held.opened;
    // Resolves while the lock is still held: a duplicate never waits for it.
    expect(await store.transact(handled, paymentId, async () => 'ran')).toBe('duplicate');
    holding.open();
    await other;
  });
});
