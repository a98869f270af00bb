import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { seedProducts } from '@orders/db';
import { type Envelope, routes, type TopicName, topics } from '@orders/events';
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
import { sql } from 'kysely';
import { checkInvariants } from './check-invariants';

/**
 * A topic that refuses every publish (a deleted topic, a publisher that lost its role) holds
 * back the events routed to it, and nothing else: the whole stack runs, built, with the
 * functions' Pub/Sub calls going through a proxy that refuses the publishes to `payments`.
 */
let database: TestDatabase;
let proxy: PubSubProxy;
let stack: LocalStack;
const functionOutput: string[] = [];
const collect = lineSink((line) => functionOutput.push(line));

beforeAll(async () => {
  database = await testDatabase('refused-topic');
  stack = await startLocalStack({
    projectId: testProjectId('refused-topic'),
    functions: ['place-order', 'process-order', 'payment-handler', 'housekeeping'],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      SANDBOX_LATENCY_MS: '5',
      OUTBOX_RELAY_MIN_AGE_MS: '500',
      OUTBOX_RELAY_MAX_BACKOFF_SECONDS: '2',
      PAYMENT_TIMEOUT_SECONDS: '4',
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

/** What housekeeping logged about a failed tick (Pub/Sub then delivers it again). */
function housekeepingFailures() {
  return functionOutput.filter(
    (line) => line.startsWith('housekeeping | ') && line.includes('Pub/Sub will redeliver'),
  );
}

function logged(message: string) {
  return functionOutput
    .map((line) => line.slice(line.indexOf('| ') + 2))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.message === message);
}

async function outboxEvents() {
  const rows = await database.db.selectFrom('outbox').select(['event', 'sent_at']).execute();
  return rows.map((row) => ({ event: row.event as unknown as Envelope, sentAt: row.sent_at }));
}

/** A Cloud Scheduler tick pushed to housekeeping by hand: its answer is the tick's. */
function tick() {
  return fetch(`${stack.functions.housekeeping}/projects/${stack.projectId}/topics/housekeeping`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: {
        data: Buffer.from('{"job":"housekeeping"}').toString('base64'),
        attributes: {},
        messageId: randomUUID(),
        publishTime: new Date().toISOString(),
      },
      subscription: `projects/${stack.projectId}/subscriptions/housekeeping`,
    }),
  });
}

/** The copies the proxy forwarded per (event, topic of its routes), one topic apart. */
async function copiesPerRoute(except?: TopicName) {
  const events = await outboxEvents();
  return events.flatMap(({ event }) =>
    routes[event.type as keyof typeof routes]
      .filter((topic) => topic !== except)
      .map((topic) => ({
        event: `${event.type} ${event.id}`,
        topic,
        copies: proxy.forwarded(topic, event.id),
      })),
  );
}

/** Each copy goes once, or twice when the relay met a writer's publish: never more, never none. */
function outOfBounds(copies: { copies: number }[]) {
  return copies.filter((route) => route.copies < 1 || route.copies > 2);
}

describe('a topic that refuses every publish', () => {
  it('holds back only its own events: deadlines fire, other topics flow, and it catches up once it accepts', async () => {
    proxy.refuse('payments', 403);
    const orderIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${stack.functions['place-order']}/orders`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await stack.auth!.token(`cust-refused-${i}`)}`,
        },
        body: JSON.stringify({
          currency: 'EUR',
          items: [{ sku: 'TEA-001', quantity: 1 }],
        }),
      });
      expect(response.status).toBe(202);
      orderIds.push(((await response.json()) as { orderId: string }).orderId);
    }
    const orders = () =>
      database.db
        .selectFrom('orders')
        .select(['id', 'status', 'cancel_reason'])
        .where('id', 'in', orderIds)
        .execute();

    // Their payment requests cannot go out: the payment deadlines fire and cancel them.
    await waitFor(
      'every order to be cancelled at its payment deadline',
      async () =>
        (await orders()).every(
          (order) => order.status === 'CANCELLED' && order.cancel_reason === 'payment_timeout',
        ),
      60_000,
    );
    const transitions = await database.db
      .selectFrom('saga_transitions')
      .select(['saga_id', 'to_status', 'cause_type'])
      .where('saga_id', 'in', orderIds)
      .orderBy('saga_id')
      .orderBy('version')
      .execute();
    for (const orderId of orderIds) {
      expect(
        transitions
          .filter((transition) => transition.saga_id === orderId)
          .map((transition) => `${transition.to_status} on ${transition.cause_type}`),
      ).toEqual([
        'RESERVING_STOCK on OrderPlaced',
        'AWAITING_PAYMENT on StockReserved',
        'CANCELLED on DeadlinePassed',
      ]);
    }

    // Housekeeping ticks succeed all along: a failing route is reported, not thrown.
    expect((await tick()).status).toBe(204);
    expect(housekeepingFailures()).toEqual([]);

    // The relay keeps probing the refused topic, with backoff, and says so.
    await waitFor(
      'the relay to have tried the refused topic three times for some row',
      async () => {
        const { rows } = await sql<{ attempts: number }>`
          select coalesce(max(attempts), 0)::int as attempts from outbox where sent_at is null`.execute(
          database.db,
        );
        return rows[0]!.attempts >= 3;
      },
      60_000,
    );
    const failing = logged('outbox route failing');
    expect(failing.at(-1)).toMatchObject({
      severity: 'ERROR',
      topic: 'payments',
      status: 403,
      waiting: expect.any(Number),
    });
    // Each order's PaymentRequested and RefundRequested wait for it.
    expect(failing.at(-1)!.waiting).toBe(2 * orderIds.length);
    expect((await tick()).status).toBe(204);
    expect(housekeepingFailures()).toEqual([]);

    // Healthy copies went once (twice at most, when the relay met a writer's publish).
    expect(outOfBounds(await copiesPerRoute('payments'))).toEqual([]);
    for (const { event } of await outboxEvents()) {
      expect(proxy.forwarded('payments', event.id)).toBe(0);
    }
    expect(proxy.refusals('payments')).toBeGreaterThan(0);

    // The topic accepts again: everything held back goes out, and the payments settle.
    proxy.accept('payments');
    const toPayments = async () =>
      (await outboxEvents())
        .map(({ event }) => event)
        .filter((event) => routes[event.type as keyof typeof routes].includes('payments'));
    const handledByPayments = async () =>
      (
        await database.db
          .selectFrom('processed_events')
          .select('event_id')
          .where('consumer', '=', 'payment-handler')
          .execute()
      )
        .map((row) => row.event_id)
        .sort();
    /** Copies routed to a running consumer (analytics-loader is not started) not yet handled. */
    const unhandledCopies = async () => {
      const handled = new Set(
        (
          await database.db
            .selectFrom('processed_events')
            .select(['consumer', 'event_id'])
            .execute()
        ).map((row) => `${row.consumer}:${row.event_id}`),
      );
      return (await outboxEvents())
        .flatMap(({ event }) =>
          routes[event.type as keyof typeof routes]
            .filter((topic) => topic !== 'analytics')
            .map((topic) => `${topics[topic].consumer}:${event.id}`),
        )
        .filter((copy) => !handled.has(copy));
    };
    // The refunds may settle the sagas before the payment requests are delivered (Pub/Sub
    // keeps no order), and what payments answers goes back to the saga: wait until every
    // copy of every event has been handled where it was routed.
    await waitFor(
      'every outbox row to be sent, every saga to be done waiting, and every routed copy handled',
      async () => {
        const events = await outboxEvents();
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from sagas where deadline_at is not null`.execute(database.db);
        return (
          events.every((event) => event.sentAt !== null) &&
          rows[0]!.n === 0 &&
          (await unhandledCopies()).length === 0
        );
      },
      90_000,
    );

    const sentToPayments = await toPayments();
    expect(new Set(sentToPayments.map((event) => event.type))).toEqual(
      new Set(['PaymentRequested', 'RefundRequested']),
    );
    expect(await handledByPayments()).toEqual(sentToPayments.map((event) => event.id).sort());
    expect(outOfBounds(await copiesPerRoute())).toEqual([]);

    // Each cancelled order nets zero at the provider, whatever arrived first there.
    expect((await orders()).map((order) => order.status)).toEqual(orderIds.map(() => 'CANCELLED'));
    const { rows: ledger } = await sql<{ order_id: string; net: number }>`
      select order_id,
        coalesce(sum(amount_minor) filter (where kind = 'charge' and outcome = 'succeeded'), 0)::int
          - coalesce(sum(amount_minor) filter (where kind = 'refund' and outcome = 'succeeded'), 0)::int as net
      from sandbox_provider_operations where order_id = any(${orderIds}::uuid[])
      group by order_id`.execute(database.db);
    const net = (orderId: string) => ledger.find((row) => row.order_id === orderId)?.net ?? 0;
    expect(orderIds.map((orderId) => ({ orderId, net: net(orderId) }))).toEqual(
      orderIds.map((orderId) => ({ orderId, net: 0 })),
    );

    const initialStock = Object.fromEntries(seedProducts.map((p) => [p.sku, p.stock]));
    expect(
      await checkInvariants({
        db: database.db,
        initialStock,
      }),
    ).toEqual([]);
  }, 240_000);
});
