import { randomUUID } from 'node:crypto';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createEvent,
  type DomainEvent,
  type Envelope,
  type EventType,
  encodeEvent,
} from '@orders/events';
import {
  createTopology,
  pullMessages,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
  waiterShowing,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';
import {
  migrateSandboxLedger,
  type SandboxLedgerTables,
  type SandboxProvider,
} from '@orders/payments';
import { sql } from 'kysely';

/**
 * payment-handler as Cloud Run serves it: functions-framework's server, the real database and
 * emulator, the sandbox provider (the one double: it stands for a remote payment provider).
 * What it emits is read where the saga would: from a tap subscription on `order-saga`.
 */
const projectId = testProjectId('payment-handler');
const topic = 'payments';
let database: TestDatabase;
let pubsub: PubSub;
let tap: Subscription;
let served: ServedFunction;
let sandbox: SandboxProvider;
const published: Envelope[] = [];

beforeAll(async () => {
  database = await testDatabase('payment-handler');
  // The sandbox creates its ledger before its first call; the tests read it before that too.
  await migrateSandboxLedger(database.db);
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    SANDBOX_LATENCY_MS: '20',
    SANDBOX_LATE_LANDING_MS: '1500',
  });
  const loaded = require('./index') as typeof import('./index');
  if (!loaded.sandbox) throw new Error('payment-handler runs the sandbox here');
  sandbox = loaded.sandbox;
  served = await serveFunction('handlePayment', { projectId, topic });

  await createTopology({
    emulatorHost,
    projectId,
    pushEndpoints: { [topic]: `${served.url}/projects/${projectId}/topics/${topic}` },
  });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  [tap] = await pubsub.topic('order-saga').createSubscription('order-saga-tap');
  tap.on('message', (message: Message) => {
    message.ack();
    published.push(JSON.parse(message.data.toString()));
  });
});

afterAll(async () => {
  await sandbox?.settled();
  tap?.removeAllListeners();
  await tap?.close();
  await served?.close();
  await pubsub?.close();
  await database?.close();
});

let amounts = 1000;

interface PaymentFields {
  orderId?: string;
  paymentId?: string;
  amountMinor?: number;
}

/** A request for a new payment, or another request for the payment of `fields`. */
function paymentRequested(
  customerId: string,
  fields: PaymentFields = {},
): DomainEvent<'PaymentRequested'> {
  const { orderId = randomUUID(), amountMinor = ++amounts } = fields;
  const paymentId = fields.paymentId ?? `pay_${orderId}`;
  return createEvent(
    'PaymentRequested',
    { orderId, paymentId, customerId, amountMinor, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID(), causationId: randomUUID() },
  );
}

function refundRequested(
  request: DomainEvent<'PaymentRequested'>,
  reason: 'payment_timeout' | 'late_payment' = 'payment_timeout',
): DomainEvent<'RefundRequested'> {
  const { orderId, paymentId, amountMinor, currency } = request.data;
  return createEvent(
    'RefundRequested',
    { orderId, paymentId, amountMinor, currency, reason },
    { source: 'process-order', correlationId: request.correlationId, causationId: randomUUID() },
  );
}

/** Delivers an event as a raw Pub/Sub push or as an Eventarc CloudEvent; answers the status. */
async function deliver(event: Envelope, shape: 'push' | 'eventarc' = 'push'): Promise<number> {
  const response = await served.deliver(encodeEvent(event), shape);
  await response.arrayBuffer();
  return response.status;
}

/**
 * The events published about an order, once `count` have arrived and so has every event the
 * function emitted about it: each is in the outbox before its push is answered, so one too
 * many shows.
 */
async function publishedFor(orderId: string, count: number, timeoutMs = 10_000) {
  const of = () => published.filter((event) => event.subject === orderId);
  await waiterShowing([], 50)(
    `${count} events published about order ${orderId}, and each of its outbox`,
    async () => {
      const received = new Set(of().map((event) => event.id));
      const emitted = await emittedAbout(orderId);
      return received.size >= count && emitted.every((id) => received.has(id));
    },
    timeoutMs,
  );
  return of();
}

/** The ids of the events in the outbox about an order. */
async function emittedAbout(orderId: string): Promise<string[]> {
  const rows = await database.db
    .selectFrom('outbox')
    .select('id')
    .where(sql<string>`event->>'subject'`, '=', orderId)
    .execute();
  return rows.map((row) => row.id);
}

/** The outbox rows of an order, which must all have been published. */
async function outboxFor(orderId: string) {
  const rows = await database.db
    .selectFrom('outbox')
    .selectAll()
    .where(sql<string>`event->>'subject'`, '=', orderId)
    .execute();
  return rows.map((row) => ({ type: row.event.type as EventType, sent: row.sent_at !== null }));
}

function ledgerOf(paymentId: string) {
  return database.db
    .withTables<SandboxLedgerTables>()
    .selectFrom('sandbox_provider_operations')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .orderBy('kind')
    .execute();
}

function paymentOf(paymentId: string) {
  return database.db
    .selectFrom('payments')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
}

/** What every event this function emits carries about its cause. */
function causedByRequest(cause: Envelope) {
  return {
    id: expect.any(String),
    version: 1,
    source: 'payment-handler',
    occurredAt: expect.stringMatching(/Z$/),
    correlationId: cause.correlationId,
    causationId: cause.id,
    subject: (cause.data as { orderId: string }).orderId,
  };
}

/** The answer to a request on a payment voided before it was charged. */
function voidedAnswer(request: DomainEvent<'PaymentRequested'>) {
  const { orderId, paymentId } = request.data;
  return {
    ...causedByRequest(request),
    type: 'PaymentFailed',
    data: {
      orderId,
      paymentId,
      reason: 'voided',
      message: 'the payment was voided before it was charged',
    },
  };
}

describe('PaymentRequested', () => {
  it('charges once when the same event is delivered 8 times concurrently, in both shapes', async () => {
    const request = paymentRequested('cust-1');
    const { orderId, paymentId, amountMinor } = request.data;

    const statuses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => deliver(request, i % 2 ? 'push' : 'eventarc')),
    );

    expect(statuses).toEqual(Array(8).fill(204));
    const ledger = await ledgerOf(paymentId);
    expect(ledger).toEqual([
      expect.objectContaining({
        kind: 'charge',
        outcome: 'succeeded',
        idempotency_key: `${paymentId}:charge`,
        amount_minor: amountMinor,
      }),
    ]);
    const providerRef = ledger[0]!.provider_ref;
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'charged',
      order_id: orderId,
      customer_id: 'cust-1',
      amount_minor: amountMinor,
      currency: 'EUR',
      provider_ref: providerRef,
    });
    expect(await publishedFor(orderId, 1)).toEqual([
      {
        ...causedByRequest(request),
        type: 'PaymentSucceeded',
        data: { orderId, paymentId, providerRef, amountMinor, currency: 'EUR' },
      },
    ]);
    expect(await outboxFor(orderId)).toEqual([{ type: 'PaymentSucceeded', sent: true }]);
  });

  it('charges once when different events carry the same payment id, delivered concurrently', async () => {
    const first = paymentRequested('cust-2');
    const { orderId, paymentId } = first.data;
    const requests = [
      first,
      ...Array.from({ length: 3 }, () => paymentRequested('cust-2', first.data)),
    ];
    expect(new Set(requests.map((request) => request.id)).size).toBe(4);

    const statuses = await Promise.all(
      [...requests, ...requests].map((request) => deliver(request)),
    );

    expect(statuses).toEqual(Array(8).fill(204));
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.outcome])).toEqual([
      ['charge', 'succeeded'],
    ]);
    const events = await publishedFor(orderId, 1);
    expect(events.map((event) => event.type)).toEqual(['PaymentSucceeded']);
    expect(requests.map((request) => request.id)).toContain(events[0]!.causationId);
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'charged' });
  });

  it.each([
    ['decline-1', 'declined'],
    ['nofunds-1', 'insufficient_funds'],
    ['fraud-1', 'fraud_suspected'],
  ])(
    'answers customer %s with PaymentFailed %s, and charges nothing',
    async (customerId, reason) => {
      const request = paymentRequested(customerId);
      const { orderId, paymentId } = request.data;

      expect(await deliver(request)).toBe(204);

      expect(await publishedFor(orderId, 1)).toEqual([
        {
          ...causedByRequest(request),
          type: 'PaymentFailed',
          data: { orderId, paymentId, reason },
        },
      ]);
      expect(await paymentOf(paymentId)).toMatchObject({
        status: 'declined',
        failure_reason: reason,
        provider_ref: null,
      });
      expect(await ledgerOf(paymentId)).toEqual([
        expect.objectContaining({ kind: 'charge', outcome: 'declined', decline_code: reason }),
      ]);

      // A later request for the same payment (another event) answers nothing more.
      expect(await deliver(paymentRequested(customerId, request.data))).toBe(204);
      expect(await publishedFor(orderId, 1)).toHaveLength(1);
      expect(await ledgerOf(paymentId)).toHaveLength(1);
    },
  );

  it('answers 500 twice for a flaky- customer, with no effect of ours, then charges once', async () => {
    const request = paymentRequested('flaky-1');
    const { orderId, paymentId } = request.data;

    expect(await deliver(request)).toBe(500);
    expect(await ledgerOf(paymentId)).toEqual([]);
    expect(await deliver(request)).toBe(500);
    // The provider charged, but its answer was lost: our transaction rolled back.
    expect(await ledgerOf(paymentId)).toHaveLength(1);
    expect(await paymentOf(paymentId)).toBeUndefined();
    expect(await outboxFor(orderId)).toEqual([]);

    expect(await deliver(request)).toBe(204);
    const ledger = await ledgerOf(paymentId);
    expect(ledger).toHaveLength(1);
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'charged',
      provider_ref: ledger[0]!.provider_ref,
    });
    const events = await publishedFor(orderId, 1);
    expect(events.map((event) => [event.type, event.causationId])).toEqual([
      ['PaymentSucceeded', request.id],
    ]);
  });

  it('through the emulator: a flaky- charge is redelivered by Pub/Sub until it succeeds, once', async () => {
    const request = paymentRequested('flaky-2');
    const { orderId, paymentId } = request.data;

    await pubsub.topic(topic).publishMessage(encodeEvent(request));

    const events = await publishedFor(orderId, 1, 30_000);
    expect(events.map((event) => event.type)).toEqual(['PaymentSucceeded']);
    expect(await ledgerOf(paymentId)).toHaveLength(1);
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'charged' });
  });
});

describe('RefundRequested', () => {
  it('refunds a charged payment in full, once', async () => {
    const request = paymentRequested('cust-3');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(204);
    const refund = refundRequested(request, 'late_payment');

    const statuses = await Promise.all([deliver(refund), deliver(refund, 'eventarc')]);

    expect(statuses).toEqual([204, 204]);
    const ledger = await ledgerOf(paymentId);
    expect(ledger.map((row) => [row.kind, row.outcome, row.amount_minor])).toEqual([
      ['charge', 'succeeded', amountMinor],
      ['refund', 'succeeded', amountMinor],
    ]);
    const refundId = ledger[1]!.provider_ref;
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'refunded', refund_id: refundId });
    const events = await publishedFor(orderId, 2);
    expect(events.map((event) => event.type).sort()).toEqual([
      'PaymentRefunded',
      'PaymentSucceeded',
    ]);
    expect(events.find((event) => event.type === 'PaymentRefunded')).toEqual({
      ...causedByRequest(refund),
      type: 'PaymentRefunded',
      data: { orderId, paymentId, refundId, kind: 'refund', amountMinor, currency: 'EUR' },
    });

    // Another refund request for it (another event) pays nothing more and confirms again.
    const askedAgain = refundRequested(request);
    expect(await deliver(askedAgain)).toBe(204);
    const again = await publishedFor(orderId, 3);
    expect(
      again.filter((event) => event.type === 'PaymentRefunded').map((event) => event.data),
    ).toEqual([
      { orderId, paymentId, refundId, kind: 'refund', amountMinor, currency: 'EUR' },
      { orderId, paymentId, refundId, kind: 'refund', amountMinor, currency: 'EUR' },
    ]);
    expect(await ledgerOf(paymentId)).toHaveLength(2);
  });

  it('voids a payment never requested, then refuses its late request with PaymentFailed voided', async () => {
    const request = paymentRequested('cust-4');
    const { orderId, paymentId, amountMinor } = request.data;
    const refund = refundRequested(request);

    expect(await deliver(refund)).toBe(204);
    const voided = await paymentOf(paymentId);
    expect(voided).toMatchObject({
      status: 'voided',
      customer_id: null,
      amount_minor: amountMinor,
      provider_ref: null,
    });
    const [voidEvent] = await publishedFor(orderId, 1);
    expect(voidEvent).toEqual({
      ...causedByRequest(refund),
      type: 'PaymentRefunded',
      data: {
        orderId,
        paymentId,
        refundId: voided!.refund_id,
        kind: 'void',
        amountMinor: 0,
        currency: 'EUR',
      },
    });

    expect(await deliver(request)).toBe(204);

    const events = await publishedFor(orderId, 2);
    expect(events[1]).toEqual(voidedAnswer(request));
    // The void is the provider's: nothing can be charged under the charge's key any more.
    expect(await ledgerOf(paymentId)).toEqual([
      expect.objectContaining({
        idempotency_key: `${paymentId}:charge`,
        kind: 'void',
        outcome: 'succeeded',
        customer_id: null,
        amount_minor: amountMinor,
        provider_ref: voided!.refund_id,
      }),
    ]);
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'voided' });
  });

  it('answers a request voided at the provider but not in our books (the void rolled back) with PaymentFailed voided', async () => {
    const request = paymentRequested('cust-6');
    const { orderId, paymentId, amountMinor } = request.data;
    const voided = await sandbox.void({
      chargeIdempotencyKey: `${paymentId}:charge`,
      paymentId,
      orderId,
      amountMinor,
      currency: 'EUR',
    });

    expect(await deliver(request)).toBe(204);

    expect(await publishedFor(orderId, 1)).toEqual([voidedAnswer(request)]);
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'voided',
      customer_id: 'cust-6',
      failure_reason: 'voided',
    });
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.provider_ref])).toEqual([
      ['void', voided.providerRef],
    ]);
  });

  it('voids a declined payment', async () => {
    const request = paymentRequested('nofunds-2');
    const { orderId, paymentId } = request.data;
    expect(await deliver(request)).toBe(204);

    expect(await deliver(refundRequested(request))).toBe(204);

    const events = await publishedFor(orderId, 2);
    expect(events.map((event) => [event.type, (event.data as { kind?: string }).kind])).toEqual([
      ['PaymentFailed', undefined],
      ['PaymentRefunded', 'void'],
    ]);
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'voided',
      failure_reason: 'insufficient_funds',
    });
    expect((await ledgerOf(paymentId)).map((row) => row.kind)).toEqual(['charge']);
  });

  it('refunds a charge whose answer was lost before the order gave up, so the order nets zero', async () => {
    // Two lost answers: the provider charged on the second attempt, and the order's saga
    // timed out before a third delivery.
    const request = paymentRequested('flaky-3');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(500);
    expect(await deliver(request)).toBe(500);
    expect(await paymentOf(paymentId)).toBeUndefined();

    const refund = refundRequested(request);
    // The flaky- customer's refund fails twice too, then is paid back.
    expect(await deliver(refund)).toBe(500);
    expect(await deliver(refund)).toBe(500);
    expect(await deliver(refund)).toBe(204);

    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.amount_minor])).toEqual([
      ['charge', amountMinor],
      ['refund', amountMinor],
    ]);
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'refunded' });
    const [refunded] = await publishedFor(orderId, 1);
    expect(refunded).toMatchObject({
      type: 'PaymentRefunded',
      data: { kind: 'refund', amountMinor },
    });

    // The late third delivery of the request finds the payment settled: nothing more.
    expect(await deliver(request)).toBe(204);
    expect(await publishedFor(orderId, 1)).toHaveLength(1);
    expect(await ledgerOf(paymentId)).toHaveLength(2);
  });
});

describe('a charge that lands at the provider after its answer was lost (late- customers)', () => {
  it('is voided at the provider when its order gives up first: it lands as nothing, and the request is answered voided', async () => {
    const request = paymentRequested('late-1');
    const { orderId, paymentId, amountMinor } = request.data;
    // The provider's answer is lost: the charge is still on its way.
    expect(await deliver(request)).toBe(500);
    expect(await paymentOf(paymentId)).toBeUndefined();

    // The order's payment deadline passes before the charge lands.
    const refund = refundRequested(request);
    expect(await deliver(refund)).toBe(204);
    expect((await ledgerOf(paymentId)).filter((row) => row.kind === 'charge')).toEqual([]);
    const voided = await paymentOf(paymentId);
    expect(voided).toMatchObject({ status: 'voided', amount_minor: amountMinor });
    const voidConfirmation = {
      ...causedByRequest(refund),
      type: 'PaymentRefunded',
      data: {
        orderId,
        paymentId,
        refundId: voided!.refund_id,
        kind: 'void',
        amountMinor: 0,
        currency: 'EUR',
      },
    };
    expect(await publishedFor(orderId, 1)).toEqual([voidConfirmation]);

    // The charge lands, and finds its key voided: no money is kept for the cancelled order.
    await sandbox.settled();
    const ledger = await ledgerOf(paymentId);
    expect(ledger.map((row) => [row.kind, row.outcome, row.amount_minor])).toEqual([
      ['void', 'succeeded', amountMinor],
    ]);
    expect(ledger[0]!.provider_ref).toBe(voided!.refund_id);
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'voided' });

    // Pub/Sub redelivers the request: the provider answers that the payment is voided.
    expect(await deliver(request)).toBe(204);
    const events = await publishedFor(orderId, 2);
    expect(events[1]).toEqual(voidedAnswer(request));

    // And the order, asking again, hears the same void.
    const askedAgain = refundRequested(request);
    expect(await deliver(askedAgain)).toBe(204);
    const again = await publishedFor(orderId, 3);
    expect(again[2]).toEqual({ ...voidConfirmation, ...causedByRequest(askedAgain) });
    expect(await ledgerOf(paymentId)).toHaveLength(1);
  });

  it('is refunded in full when it lands before its order gives up, so the order nets zero', async () => {
    const request = paymentRequested('late-2');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(500);
    await sandbox.settled();
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.outcome])).toEqual([
      ['charge', 'succeeded'],
    ]);

    const refund = refundRequested(request);
    // The refund's first answer is lost too (it lands later); the redelivery settles it.
    expect(await deliver(refund)).toBe(500);
    expect(await deliver(refund)).toBe(204);
    await sandbox.settled();

    const ledger = await ledgerOf(paymentId);
    expect(ledger.map((row) => [row.kind, row.outcome, row.amount_minor])).toEqual([
      ['charge', 'succeeded', amountMinor],
      ['refund', 'succeeded', amountMinor],
    ]);
    const refundId = ledger[1]!.provider_ref;
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'refunded',
      refund_id: refundId,
      provider_ref: ledger[0]!.provider_ref,
    });
    expect(await publishedFor(orderId, 1)).toEqual([
      {
        ...causedByRequest(refund),
        type: 'PaymentRefunded',
        data: { orderId, paymentId, refundId, kind: 'refund', amountMinor, currency: 'EUR' },
      },
    ]);
  });

  /**
   * The damage the previous version left: it voided a payment in its own books only, and the
   * charge then landed at the provider. Every later request about the payment asks the
   * provider rather than this service's row, and so finds the money.
   */
  async function voidedInOurBooksOnly(customerId: string) {
    const request = paymentRequested(customerId);
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(500);
    await sandbox.settled();
    await database.db
      .insertInto('payments')
      .values({
        payment_id: paymentId,
        order_id: orderId,
        amount_minor: amountMinor,
        currency: 'EUR',
        status: 'voided',
        refund_id: `void-${randomUUID()}`,
      })
      .execute();
    const [charge] = await ledgerOf(paymentId);
    expect(charge).toMatchObject({ kind: 'charge', outcome: 'succeeded' });
    return { request, charge: charge! };
  }

  it('answers a redelivered request for a payment voided in our books only with what the provider charged', async () => {
    const { request, charge } = await voidedInOurBooksOnly('late-3');
    const { orderId, paymentId, amountMinor } = request.data;

    expect(await deliver(request)).toBe(204);

    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'charged',
      customer_id: 'late-3',
      provider_ref: charge.provider_ref,
    });
    // The order, cancelled, then asks for the late payment back.
    expect(await publishedFor(orderId, 1)).toEqual([
      {
        ...causedByRequest(request),
        type: 'PaymentSucceeded',
        data: {
          orderId,
          paymentId,
          providerRef: charge.provider_ref,
          amountMinor,
          currency: 'EUR',
        },
      },
    ]);
  });

  it('refunds a payment voided in our books only when its order asks again', async () => {
    const { request } = await voidedInOurBooksOnly('late-4');
    const { orderId, paymentId, amountMinor } = request.data;
    const askedAgain = refundRequested(request);

    // The refund's first answer is lost (it lands later); the redelivery settles it.
    expect(await deliver(askedAgain)).toBe(500);
    expect(await deliver(askedAgain)).toBe(204);
    await sandbox.settled();

    const ledger = await ledgerOf(paymentId);
    expect(ledger.map((row) => [row.kind, row.outcome, row.amount_minor])).toEqual([
      ['charge', 'succeeded', amountMinor],
      ['refund', 'succeeded', amountMinor],
    ]);
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'refunded',
      refund_id: ledger[1]!.provider_ref,
    });
    expect(await publishedFor(orderId, 1)).toEqual([
      {
        ...causedByRequest(askedAgain),
        type: 'PaymentRefunded',
        data: {
          orderId,
          paymentId,
          refundId: ledger[1]!.provider_ref,
          kind: 'refund',
          amountMinor,
          currency: 'EUR',
        },
      },
    ]);
  });
});

/** Pulls the dead letters of `events` from payments-dlq: their reasons, by event id. */
async function deadLettered(events: readonly Envelope[]): Promise<Record<string, string>> {
  const letters = await pullMessages(pubsub, `${topic}-dlq`, { count: events.length });
  const reasons = Object.fromEntries(
    letters.map((letter) => [letter.attributes.event_id, letter.attributes.dlq_reason]),
  );
  expect(Object.keys(reasons).sort()).toEqual(events.map((event) => event.id).sort());
  return reasons as Record<string, string>;
}

describe('requests the payment service refuses: dead-lettered with the reason, never paid', () => {
  it('charges only the payment pay_<orderId> of the order the request names', async () => {
    const orderId = randomUUID();
    const otherOrder = randomUUID();
    const requests = [
      `pay-${orderId}`,
      `pay_${otherOrder}`,
      `pay_${orderId.toUpperCase()}`,
      `${orderId}`,
    ].map((paymentId) => paymentRequested('cust-7', { orderId, paymentId, amountMinor: 500 }));

    for (const request of requests) expect(await deliver(request)).toBe(204);

    const reasons = await deadLettered(requests);
    for (const request of requests) {
      expect(reasons[request.id]).toBe(
        `payment ${JSON.stringify(request.data.paymentId)} is not the payment of order ${orderId} (pay_${orderId}): refused`,
      );
      expect(await ledgerOf(request.data.paymentId)).toEqual([]);
      expect(await paymentOf(request.data.paymentId)).toBeUndefined();
    }
    expect(await outboxFor(orderId)).toEqual([]);

    // A refund request naming another order's payment is refused alike.
    const refund = refundRequested(requests[1]!);
    expect(await deliver(refund)).toBe(204);
    expect(Object.values(await deadLettered([refund]))).toEqual([
      expect.stringMatching(/is not the payment of order .*: refused$/),
    ]);
  });

  it('charges a payment once, for one amount: another request with other money is set aside', async () => {
    const request = paymentRequested('cust-8');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(204);

    const more = paymentRequested('cust-8', { orderId, paymentId, amountMinor: amountMinor + 1 });
    const dollars = createEvent(
      'PaymentRequested',
      { ...request.data, currency: 'USD' },
      { source: 'process-order', correlationId: request.correlationId, causationId: randomUUID() },
    );
    expect(await deliver(more)).toBe(204);
    expect(await deliver(dollars)).toBe(204);

    const reasons = await deadLettered([more, dollars]);
    expect(reasons[more.id]).toBe(
      `PaymentRequested for ${amountMinor + 1} EUR of payment ${paymentId}, recorded charged for ${amountMinor} EUR: refused`,
    );
    expect(reasons[dollars.id]).toBe(
      `PaymentRequested for ${amountMinor} USD of payment ${paymentId}, recorded charged for ${amountMinor} EUR: refused`,
    );
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.amount_minor])).toEqual([
      ['charge', amountMinor],
    ]);
    expect(await publishedFor(orderId, 1)).toHaveLength(1);
  });

  it('refuses other money for a payment whose charge answer was lost: the provider holds the first', async () => {
    const request = paymentRequested('flaky-4');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(500);
    expect(await deliver(request)).toBe(500);
    expect(await paymentOf(paymentId)).toBeUndefined();

    const more = paymentRequested('flaky-4', { orderId, paymentId, amountMinor: amountMinor * 2 });
    expect(await deliver(more)).toBe(204);
    expect(Object.values(await deadLettered([more]))).toEqual([
      expect.stringMatching(/was used for another request/),
    ]);
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.amount_minor])).toEqual([
      ['charge', amountMinor],
    ]);
  });

  it('refunds at most what was charged: a refund of more, or of other money, is set aside', async () => {
    const request = paymentRequested('cust-9');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(204);
    const tooMuch = createEvent(
      'RefundRequested',
      {
        orderId,
        paymentId,
        amountMinor: amountMinor + 100,
        currency: 'EUR',
        reason: 'late_payment',
      },
      { source: 'process-order', correlationId: request.correlationId, causationId: randomUUID() },
    );
    expect(await deliver(tooMuch)).toBe(204);
    expect(await deadLettered([tooMuch])).toEqual({
      [tooMuch.id]: `RefundRequested for ${amountMinor + 100} EUR of payment ${paymentId}, recorded charged for ${amountMinor} EUR: refused`,
    });
    expect((await ledgerOf(paymentId)).map((row) => row.kind)).toEqual(['charge']);
    expect(await paymentOf(paymentId)).toMatchObject({ status: 'charged' });

    // The refund of what was charged goes through, once; more after it is refused too.
    expect(await deliver(refundRequested(request))).toBe(204);
    const again = createEvent('RefundRequested', tooMuch.data, {
      source: 'process-order',
      correlationId: request.correlationId,
      causationId: randomUUID(),
    });
    expect(await deliver(again)).toBe(204);
    expect(Object.values(await deadLettered([again]))).toEqual([
      expect.stringMatching(/recorded refunded for .*: refused$/),
    ]);
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.amount_minor])).toEqual([
      ['charge', amountMinor],
      ['refund', amountMinor],
    ]);
  });

  it('pays nothing back for a payment never charged: voided, and other money for it is set aside', async () => {
    const request = paymentRequested('nofunds-3');
    const { orderId, paymentId, amountMinor } = request.data;
    expect(await deliver(request)).toBe(204);
    expect(await deliver(refundRequested(request))).toBe(204);
    const events = await publishedFor(orderId, 2);
    expect(events[1]).toMatchObject({
      type: 'PaymentRefunded',
      data: { kind: 'void', amountMinor: 0 },
    });

    const more = createEvent(
      'RefundRequested',
      { orderId, paymentId, amountMinor: amountMinor + 1, currency: 'EUR', reason: 'late_payment' },
      { source: 'process-order', correlationId: request.correlationId, causationId: randomUUID() },
    );
    expect(await deliver(more)).toBe(204);
    expect(Object.values(await deadLettered([more]))).toEqual([
      expect.stringMatching(/recorded voided for .*: refused$/),
    ]);
    expect((await ledgerOf(paymentId)).map((row) => [row.kind, row.outcome])).toEqual([
      ['charge', 'declined'],
    ]);
  });
});

describe('events that do not belong on topic payments', () => {
  it('dead-letters an OrderPlaced with the reason, and does nothing else', async () => {
    const orderPlaced = createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: 'cust-5',
        currency: 'EUR',
        items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
        totalMinor: 1299,
      },
      { source: 'place-order', correlationId: randomUUID() },
    );

    expect(await deliver(orderPlaced)).toBe(204);

    const [dead] = await pullMessages(pubsub, `${topic}-dlq`, { count: 1 });
    expect(dead?.attributes).toMatchObject({
      event_id: orderPlaced.id,
      event_type: 'OrderPlaced',
      dlq_reason: 'payment-handler does not handle OrderPlaced events',
      dlq_consumer: 'payment-handler',
      dlq_source_topic: topic,
    });
    expect(JSON.parse(dead!.data.toString())).toEqual(orderPlaced);
    const claims = await database.db
      .selectFrom('processed_events')
      .select('event_id')
      .where('event_id', '=', orderPlaced.id)
      .execute();
    expect(claims).toEqual([]);
    expect(await outboxFor(orderPlaced.data.orderId)).toEqual([]);
  });
});

describe('a PaymentRequested with upper-case uuids', () => {
  it('is charged once and succeeds, the same as in lower case', async () => {
    const orderId = randomUUID();
    const correlationId = randomUUID();
    const upper = (uuid: string) => uuid.toUpperCase();
    const request = createEvent(
      'PaymentRequested',
      {
        orderId: upper(orderId),
        paymentId: `pay_${orderId}`,
        customerId: 'cust-1',
        amountMinor: 2599,
        currency: 'EUR',
      },
      {
        source: 'process-order',
        id: upper(randomUUID()),
        correlationId: upper(correlationId),
        causationId: upper(randomUUID()),
      },
    );
    expect(request.subject).toBe(upper(orderId));

    const response = await served.deliver(encodeEvent(request));
    expect(response.status).toBe(204);

    const [succeeded] = await publishedFor(orderId, 1);
    expect(succeeded).toMatchObject({
      type: 'PaymentSucceeded',
      subject: orderId,
      correlationId,
      causationId: request.id.toLowerCase(),
      data: { orderId, paymentId: `pay_${orderId}`, amountMinor: 2599, currency: 'EUR' },
    });
    const ledger = () =>
      database.db
        .withTables<SandboxLedgerTables>()
        .selectFrom('sandbox_provider_operations')
        .select(['kind', 'outcome', 'order_id'])
        .where('payment_id', '=', `pay_${orderId}`)
        .execute();
    const charged = [{ kind: 'charge', outcome: 'succeeded', order_id: orderId }];
    expect(await ledger()).toEqual(charged);

    // The same event in lower case is a duplicate: nothing more is charged or emitted.
    const lower = {
      ...request,
      id: request.id.toLowerCase(),
      correlationId,
      causationId: request.causationId?.toLowerCase() ?? null,
      subject: orderId,
      data: { ...request.data, orderId },
    };
    expect((await served.deliver(encodeEvent(lower))).status).toBe(204);
    const emitted = await database.db
      .selectFrom('outbox')
      .select(sql<string>`event->>'type'`.as('type'))
      .where(sql<string>`event->>'subject'`, '=', orderId)
      .execute();
    expect(emitted).toEqual([{ type: 'PaymentSucceeded' }]);
    expect(await ledger()).toEqual(charged);
  });
});
