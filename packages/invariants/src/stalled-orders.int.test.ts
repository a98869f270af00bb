import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent } from '@orders/events';
import {
  type LocalStack,
  lineSink,
  type PubSubProxy,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
  waiterShowing,
} from '@orders/local-stack';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { sql } from 'kysely';

/**
 * An order whose OrderPlaced never reached the saga (dead-lettered, say) stays PLACED with
 * no saga; housekeeping finds it and drives it again, a bounded number of times. The whole
 * stack runs, built; the functions' Pub/Sub calls go through a proxy that counts them.
 */
const stalledOrderSeconds = 3;
const maxOrderRedrives = 2;
let database: TestDatabase;
let proxy: PubSubProxy;
let stack: LocalStack;
const functionOutput: string[] = [];
const collect = lineSink((line) => functionOutput.push(line));

beforeAll(async () => {
  database = await testDatabase('stalled-orders');
  stack = await startLocalStack({
    projectId: testProjectId('stalled-orders'),
    functions: ['process-order', 'payment-handler', 'housekeeping'],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      SANDBOX_LATENCY_MS: '5',
      OUTBOX_RELAY_MIN_AGE_MS: '500',
      STALLED_ORDER_SECONDS: String(stalledOrderSeconds),
      MAX_ORDER_REDRIVES: String(maxOrderRedrives),
    },
    pubsubProxy: true,
    housekeepingIntervalMs: 1_000,
    functionStdout: collect,
    functionStderr: collect,
  });
  proxy = stack.pubsubProxy!;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await database?.close();
});

const waitFor = waiterShowing(functionOutput);

function logged(message: string) {
  return functionOutput
    .map((line) => line.slice(line.indexOf('| ') + 2))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.message === message);
}

/**
 * An order placed an hour ago whose OrderPlaced was published (its outbox row is sent) and
 * never reached the saga: the order is PLACED, with no saga.
 */
async function plantStalledOrder(data: { currency: string }): Promise<DomainEvent<'OrderPlaced'>> {
  const orderId = randomUUID();
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId,
      customerId: 'cust-stalled',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
      totalMinor: 1299,
    },
    {
      source: 'place-order',
      correlationId: randomUUID(),
      occurredAt: new Date(Date.now() - 3_600_000),
    },
  );
  // The producer's copy, as it was written (a buggy producer may have written it wrong).
  const written = { ...placed, data: { ...placed.data, ...data } } as DomainEvent<'OrderPlaced'>;
  await insertPlacedOrder(database.db, written);
  await database.db
    .updateTable('outbox')
    .set({ sent_at: new Date(Date.now() - 3_500_000) })
    .where('id', '=', placed.id)
    .execute();
  return written;
}

async function orderStatus(orderId: string) {
  const row = await database.db
    .selectFrom('orders')
    .select('status')
    .where('id', '=', orderId)
    .executeTakeFirstOrThrow();
  return row.status;
}

async function redrives(orderId: string): Promise<number> {
  const { rows } = await sql<{ attempts: number }>`
    select attempts from order_redrives where order_id = ${orderId}::uuid`.execute(database.db);
  return rows[0]?.attempts ?? 0;
}

describe('an order whose OrderPlaced never reached the saga', () => {
  it('is driven again by housekeeping to a final state, at most MAX_ORDER_REDRIVES times, then left for an operator', async () => {
    // One that a re-drive completes, and one whose OrderPlaced the saga can never take (its
    // currency fails the schema: the relay sets its row aside instead of publishing it).
    const healthy = await plantStalledOrder({ currency: 'EUR' });
    const poisoned = await plantStalledOrder({ currency: 'eur' });

    await waitFor(
      'the healthy stalled order to be confirmed',
      async () => (await orderStatus(healthy.data.orderId)) === 'CONFIRMED',
      60_000,
    );
    // Published again to the saga's topic only: analytics had it.
    expect(proxy.forwarded('order-saga', healthy.id)).toBeGreaterThanOrEqual(1);
    expect(proxy.forwarded('analytics', healthy.id)).toBe(0);
    const healthyRedrives = await redrives(healthy.data.orderId);
    expect(healthyRedrives).toBeGreaterThanOrEqual(1);
    expect(healthyRedrives).toBeLessThanOrEqual(maxOrderRedrives);

    // The poisoned one: re-driven the maximum, dead-lettered each time, then only reported.
    await waitFor(
      'the poisoned order to be left for an operator',
      async () =>
        logged('stalled orders left for an operator').some(
          (line) => Array.isArray(line.orderIds) && line.orderIds.includes(poisoned.data.orderId),
        ),
      60_000,
    );
    const reported = logged('stalled orders left for an operator').length;
    // Ticks for longer than the spacing of re-drives: none comes, it is only reported.
    await waitFor(
      'more ticks to report it',
      async () =>
        logged('stalled orders left for an operator').length >= reported + stalledOrderSeconds + 1,
      30_000,
    );
    expect(await redrives(poisoned.data.orderId)).toBe(maxOrderRedrives);
    // Its row is no valid envelope: the relay sets it aside, with the reason, and never
    // publishes it again (it went out once, before the outbox checked what it publishes).
    expect(proxy.forwarded('order-saga', poisoned.id)).toBe(0);
    const row = await database.db
      .selectFrom('outbox')
      .select(['set_aside_at', 'set_aside_reason'])
      .where('id', '=', poisoned.id)
      .executeTakeFirstOrThrow();
    expect(row.set_aside_at).not.toBeNull();
    expect(row.set_aside_reason).toMatch(/currency/);
    expect(await orderStatus(poisoned.data.orderId)).toBe('PLACED');
    expect(logged('stalled orders left for an operator').at(-1)).toMatchObject({
      severity: 'WARNING',
      count: 1,
      orderIds: [poisoned.data.orderId],
    });
    expect(
      logged('stalled order re-driven: its OrderPlaced goes to order-saga again')
        .filter((line) => line.orderId === poisoned.data.orderId)
        .map((line) => [line.correlationId, line.redrives]),
    ).toEqual([
      // The second re-drive finds its row set aside: counted, nothing sent again.
      [poisoned.correlationId, 1],
    ]);
  }, 180_000);
});
