import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import {
  createTopology,
  pullMessages,
  queryOnce,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';
import { insertOutboxRows } from '@orders/messaging/testing';

const projectId = testProjectId('housekeeping');
let database: TestDatabase;
let pubsub: PubSub;
let served: ServedFunction;

beforeAll(async () => {
  database = await testDatabase('housekeeping');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  await pubsub.topic('analytics').createSubscription('analytics-tap');
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    OUTBOX_RELAY_MIN_AGE_MS: '0',
  });
  require('./index');
  served = await serveFunction('runHousekeeping', { projectId, topic: 'housekeeping' });
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await database?.close();
});

/** A Cloud Scheduler tick, as Pub/Sub pushes it. */
function tick() {
  return served.deliver({ data: Buffer.from('{"job":"housekeeping"}') });
}

describe('housekeeping', () => {
  it('publishes outbox rows a crash left unsent, exactly once', async () => {
    const event = createEvent(
      'OrderConfirmed',
      { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
      { source: 'process-order', correlationId: randomUUID() },
    );
    await insertOutboxRows(database.db, [event]);

    expect((await tick()).status).toBe(204);
    expect((await tick()).status).toBe(204);
    const published = await pullMessages(pubsub, 'analytics-tap', { count: 2, timeoutMs: 1500 });
    expect(published.map((message) => message.attributes.event_id)).toEqual([event.id]);
    const row = await database.db
      .selectFrom('outbox')
      .select('sent_at')
      .where('id', '=', event.id)
      .executeTakeFirstOrThrow();
    expect(row.sent_at).not.toBeNull();
  });

  it('wakes an order whose payment deadline passed: it is cancelled and its payment voided', async () => {
    const orderId = randomUUID();
    const correlationId = randomUUID();
    await database.db
      .insertInto('orders')
      .values({
        id: orderId,
        customer_id: 'c',
        currency: 'EUR',
        total_minor: 350,
        status: 'AWAITING_PAYMENT',
        correlation_id: correlationId,
      })
      .execute();
    await database.db
      .updateTable('products')
      .set((eb) => ({ stock: eb('stock', '-', 1) }))
      .where('sku', '=', 'FILTER-10')
      .execute();
    await database.db
      .insertInto('stock_reservations')
      .values({ order_id: orderId, sku: 'FILTER-10', quantity: 1, state: 'reserved' })
      .execute();
    const state = {
      status: 'AWAITING_PAYMENT',
      orderId,
      customerId: 'c',
      currency: 'EUR',
      totalMinor: 350,
      items: [{ sku: 'FILTER-10', quantity: 1 }],
      correlationId,
      paymentId: `pay_${orderId}`,
    };
    await database.db
      .insertInto('sagas')
      .values({
        id: orderId,
        type: 'order',
        status: 'AWAITING_PAYMENT',
        version: 2,
        state: JSON.stringify(state),
        deadline_at: new Date(Date.now() - 1000),
        correlation_id: correlationId,
      })
      .execute();

    expect((await tick()).status).toBe(204);
    const order = await database.db
      .selectFrom('orders')
      .select(['status', 'cancel_reason'])
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(order).toEqual({ status: 'CANCELLED', cancel_reason: 'payment_timeout' });
    const voids = await pullMessages(pubsub, 'payment-handler', { count: 1 });
    expect(voids[0]?.attributes).toMatchObject({
      event_type: 'RefundRequested',
      correlation_id: correlationId,
    });
    const reservation = await database.db
      .selectFrom('stock_reservations')
      .select('state')
      .where('order_id', '=', orderId)
      .executeTakeFirstOrThrow();
    expect(reservation.state).toBe('released');
  });

  it('forgets expired Idempotency-Keys', async () => {
    await database.db
      .insertInto('idempotency_keys')
      .values({
        scope: 's',
        key: 'old',
        fingerprint: 'f',
        status: 'in_flight',
        lock_token: randomUUID(),
        locked_until: new Date(0),
        expires_at: new Date(Date.now() - 1000),
      })
      .execute();
    expect((await tick()).status).toBe(204);
    expect(
      await database.db
        .selectFrom('idempotency_keys')
        .select('key')
        .where('key', '=', 'old')
        .execute(),
    ).toEqual([]);
  });

  it('deletes what is past its retention window (claims 30 days, sent rows 7, saga history 90) and keeps the rest', async () => {
    // Ages set back by the database's clock.
    const run = (text: string, values: unknown[]) => queryOnce(database.url, text, values);
    const [oldClaim, newClaim] = [randomUUID(), randomUUID()];
    await run(
      `insert into processed_events (consumer, event_id, processed_at)
       values ('process-order', $1, now() - interval '31 days'),
         ('process-order', $2, now() - interval '29 days')`,
      [oldClaim, newClaim],
    );

    const confirmed = () =>
      createEvent(
        'OrderConfirmed',
        { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
        { source: 'process-order', correlationId: randomUUID() },
      );
    const [oldSent, newSent] = [confirmed(), confirmed()];
    await insertOutboxRows(database.db, [oldSent, newSent]);
    await run(
      `update outbox set sent_at = now() - make_interval(days => case id when $1 then 8 else 6 end)
       where id in ($1, $2)`,
      [oldSent.id, newSent.id],
    );

    const [oldSaga, newSaga] = [randomUUID(), randomUUID()];
    for (const [id, days] of [
      [oldSaga, 91],
      [newSaga, 89],
    ] as const) {
      await run(
        `insert into sagas (id, type, status, version, state, correlation_id, updated_at)
         values ($1, 'order', 'CONFIRMED', 1, '{}', gen_random_uuid(), now() - make_interval(days => $2))`,
        [id, days],
      );
      await run(
        `insert into saga_transitions (saga_id, version, from_status, to_status, cause_type, at)
         values ($1, 1, null, 'CONFIRMED', 'Test', now() - make_interval(days => $2))`,
        [id, days],
      );
    }

    expect((await tick()).status).toBe(204);

    const claims = await database.db
      .selectFrom('processed_events')
      .select('event_id')
      .where('event_id', 'in', [oldClaim, newClaim])
      .execute();
    expect(claims).toEqual([{ event_id: newClaim }]);
    const rows = await database.db
      .selectFrom('outbox')
      .select('id')
      .where('id', 'in', [oldSent.id, newSent.id])
      .execute();
    expect(rows).toEqual([{ id: newSent.id }]);
    const history = await database.db
      .selectFrom('saga_transitions')
      .select('saga_id')
      .where('saga_id', 'in', [oldSaga, newSaga])
      .execute();
    expect(history).toEqual([{ saga_id: newSaga }]);
    const sagas = await database.db
      .selectFrom('sagas')
      .select('id')
      .where('id', 'in', [oldSaga, newSaga])
      .execute();
    expect(sagas).toHaveLength(2);
  });
});
