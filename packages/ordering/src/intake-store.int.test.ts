import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';
import { createPostgresIntakeStore, type KeyClaim, purgeExpiredKeys } from './intake-store';

let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('intake-store');
});
afterAll(() => database?.close());

const response = { status: 202, headers: { location: '/orders/1' }, body: '{"orderId":"1"}' };
let n = 0;
const newKey = () => `key-${++n}`;
const store = (lockSeconds = 30) =>
  createPostgresIntakeStore(database.db, { ttlSeconds: 3600, lockSeconds });

function placed(customerId = 'cust-1') {
  return createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId,
      currency: 'EUR',
      items: [{ sku: 'TEA-002', quantity: 1, unitPriceMinor: 899 }],
      totalMinor: 899,
    },
    { source: 'test', correlationId: randomUUID() },
  );
}

/** A store on the test database whose statements are counted in `sent.statements`. */
function countedStore() {
  const sent = { statements: 0 };
  const db = database.db.withPlugin({
    transformQuery: (args) => {
      sent.statements++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  return { keys: createPostgresIntakeStore(db, { ttlSeconds: 3600, lockSeconds: 30 }), sent };
}

async function claimOf(keys: ReturnType<typeof store>, scope: string, key: string, fp: string) {
  const outcome = await keys.claimKey(scope, key, fp);
  if (outcome.outcome !== 'started') throw new Error('expected a new claim');
  return outcome.claim;
}

/** What placing wrote: the order, its items, its outbox row. */
async function written(orderId: string) {
  const { rows } = await sql<{ orders: number; items: number; outbox: number }>`
    select (select count(*)::int from orders where id = ${orderId}::uuid) as orders,
      (select count(*)::int from order_items where order_id = ${orderId}::uuid) as items,
      (select count(*)::int from outbox where event->>'subject' = ${orderId}) as outbox`.execute(
    database.db,
  );
  return rows[0]!;
}

describe('the intake store', () => {
  it('claims a new key, refuses it while in flight, then replays the stored response', async () => {
    const keys = store();
    const key = newKey();
    const claim = await claimOf(keys, 's', key, 'fp');

    const inFlight = keys.claimKey('s', key, 'fp');
    await expect(inFlight).rejects.toBeInstanceOf(IdempotencyKeyInFlightError);
    await expect(inFlight).rejects.toMatchObject({ retryAfterSeconds: expect.any(Number) });

    const order = placed();
    await keys.recordOrder(order, { claim, response });
    expect(await written(order.data.orderId)).toEqual({ orders: 1, items: 1, outbox: 1 });
    expect(await keys.claimKey('s', key, 'fp')).toEqual({ outcome: 'replay', response });
  });

  it('refuses the key with another fingerprint, in flight or completed', async () => {
    const keys = store();
    const key = newKey();
    const claim = await claimOf(keys, 's', key, 'fp');
    await expect(keys.claimKey('s', key, 'other')).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
    await keys.recordOrder(placed(), { claim, response });
    await expect(keys.claimKey('s', key, 'other')).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
  });

  it('frees a released key for a retry', async () => {
    const keys = store();
    const key = newKey();
    const claim = await claimOf(keys, 's', key, 'fp');
    await keys.releaseKey(claim);
    expect((await keys.claimKey('s', key, 'fp')).outcome).toBe('started');
  });

  it('writes nothing for a request whose key was taken over, and the retry places its order', async () => {
    const keys = store(1);
    const key = newKey();
    const dead = await claimOf(keys, 's', key, 'fp');
    await expect(keys.claimKey('s', key, 'fp')).rejects.toBeInstanceOf(IdempotencyKeyInFlightError);
    await sql`update idempotency_keys set locked_until = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );
    await expect(keys.claimKey('s', key, 'other')).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
    const retry: KeyClaim = await claimOf(keys, 's', key, 'fp');

    // The slow original can no longer complete: its statement writes nothing.
    const slow = placed();
    await expect(keys.recordOrder(slow, { claim: dead, response })).rejects.toBeInstanceOf(
      IdempotencyKeyInFlightError,
    );
    expect(await written(slow.data.orderId)).toEqual({ orders: 0, items: 0, outbox: 0 });
    const order = placed();
    await keys.recordOrder(order, { claim: retry, response });
    expect(await written(order.data.orderId)).toEqual({ orders: 1, items: 1, outbox: 1 });
    expect(await keys.claimKey('s', key, 'fp')).toEqual({ outcome: 'replay', response });
  });

  it('forgets a key after it expires, and purges expired keys', async () => {
    const keys = store();
    const key = newKey();
    await keys.recordOrder(placed(), { claim: await claimOf(keys, 's', key, 'fp'), response });
    await sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );

    expect((await keys.claimKey('s', key, 'another body')).outcome).toBe('started');
    await sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );
    expect(await purgeExpiredKeys(database.db)).toBeGreaterThanOrEqual(1);
    const left = await database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', '=', key)
      .execute();
    expect(left).toEqual([]);
  });

  it('keeps scopes apart', async () => {
    const keys = store();
    const key = newKey();
    expect((await keys.claimKey('a', key, 'fp')).outcome).toBe('started');
    expect((await keys.claimKey('b', key, 'other')).outcome).toBe('started');
  });

  it("counts a customer's open orders only: placed or awaiting payment, not final ones", async () => {
    const customerId = `cust-open-${newKey()}`;
    const count = async () => (await store().quote({ skus: ['TEA-001'], customerId })).openOrders;
    expect(await count()).toBe(0);
    const orders = [placed(customerId), placed(customerId), placed(customerId), placed(customerId)];
    for (const order of orders) await store().recordOrder(order);
    await store().recordOrder(placed(`${customerId}-someone-else`));
    expect(await count()).toBe(4);
    const statuses = ['AWAITING_PAYMENT', 'CONFIRMED', 'CANCELLED'] as const;
    for (const [index, status] of statuses.entries()) {
      await database.db
        .updateTable('orders')
        .set({ status })
        .where('id', '=', orders[index]!.data.orderId)
        .execute();
    }
    // One still placed, one awaiting payment.
    expect(await count()).toBe(2);
  });

  it('prices known skus by the database clock and leaves unknown ones out', async () => {
    const { prices, now } = await store().quote({
      skus: ['TEA-002', 'NO-SUCH-SKU'],
      customerId: 'cust-1',
    });
    expect([...prices.keys()]).toEqual(['TEA-002']);
    expect(prices.get('TEA-002')).toEqual({ priceMinor: expect.any(Number), currency: 'EUR' });
    const { rows } = await sql<{ now: Date }>`select now() as now`.execute(database.db);
    expect(Math.abs(rows[0]!.now.getTime() - now.getTime())).toBeLessThan(60_000);
  });

  it('answers the quote asked for with a claim that starts, read in its statement', async () => {
    const { keys, sent } = countedStore();
    const key = newKey();
    const customerId = `cust-quoted-${key}`;
    await keys.recordOrder(placed(customerId));
    const quoting = { skus: ['TEA-002', 'NO-SUCH-SKU'], customerId };
    sent.statements = 0;
    const outcome = await keys.claimKey('s', key, 'fp', quoting);
    expect(sent.statements).toBe(1);
    expect(outcome).toEqual({
      outcome: 'started',
      claim: { scope: 's', key, token: expect.any(String) },
      quote: { prices: (await keys.quote(quoting)).prices, openOrders: 1, now: expect.any(Date) },
    });
    expect(outcome.outcome === 'started' && [...outcome.quote!.prices.keys()]).toEqual(['TEA-002']);
    // Taken already: the same answers as without a quote.
    await expect(keys.claimKey('s', key, 'fp', quoting)).rejects.toBeInstanceOf(
      IdempotencyKeyInFlightError,
    );
    await expect(keys.claimKey('s', key, 'other', quoting)).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
    // A claim taken over (its holder died) answers its quote too.
    await sql`update idempotency_keys set locked_until = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );
    const retry = await keys.claimKey('s', key, 'fp', { skus: ['NO-SUCH-SKU'], customerId });
    expect(retry).toMatchObject({ outcome: 'started', quote: { openOrders: 1 } });
    expect(retry.outcome === 'started' && retry.quote!.prices.size).toBe(0);
  });
});
