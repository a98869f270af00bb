import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent, encodeEvent } from '@orders/events';
import {
  createTopology,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { sandboxLedgerExists } from '@orders/payments';
import { type StripeDouble, startStripeDouble } from '@orders/payments/testing';
import { sql } from 'kysely';

/**
 * payment-handler with PAYMENT_PROVIDER=stripe, as Cloud Run serves it: functions-framework's
 * server, the real database and emulator, and the real stripe SDK talking to a local double
 * of Stripe's API (the one double: Stripe cannot run here).
 */
const projectId = testProjectId('payment-handler-stripe');
const topic = 'payments';
let database: TestDatabase;
let double: StripeDouble;
let served: ServedFunction;

beforeAll(async () => {
  database = await testDatabase('payment-handler-stripe');
  double = await startStripeDouble();
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    PAYMENT_PROVIDER: 'stripe',
    STRIPE_SECRET_KEY: double.secretKey,
    STRIPE_API_URL: double.url,
    STRIPE_TIMEOUT_MS: '1000',
  });
  const loaded = require('./index') as typeof import('./index');
  expect(loaded.sandbox).toBeUndefined();
  served = await serveFunction('handlePayment', { projectId, topic });
  await createTopology({
    emulatorHost: process.env.PUBSUB_EMULATOR_HOST!,
    projectId,
    pushEndpoints: {},
  });
});

afterAll(async () => {
  await double?.idle();
  await served?.close();
  await double?.close();
  await database?.close();
});

function paymentRequested(customerId: string): DomainEvent<'PaymentRequested'> {
  const orderId = randomUUID();
  return createEvent(
    'PaymentRequested',
    { orderId, paymentId: `pay_${orderId}`, customerId, amountMinor: 2599, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID(), causationId: randomUUID() },
  );
}

function refundRequested(request: DomainEvent<'PaymentRequested'>) {
  const { orderId, paymentId, amountMinor, currency } = request.data;
  return createEvent(
    'RefundRequested',
    { orderId, paymentId, amountMinor, currency, reason: 'payment_timeout' },
    { source: 'process-order', correlationId: request.correlationId, causationId: randomUUID() },
  );
}

async function deliver(event: DomainEvent): Promise<number> {
  const response = await served.deliver(encodeEvent(event));
  await response.arrayBuffer();
  return response.status;
}

/** The events this function emitted about an order: its outbox rows. */
async function emittedAbout(orderId: string) {
  const rows = await database.db
    .selectFrom('outbox')
    .select('event')
    .where(sql<string>`event->>'subject'`, '=', orderId)
    .orderBy(sql`event->>'occurredAt'`)
    .execute();
  return rows.map((row) => ({ type: row.event.type, data: row.event.data }));
}

function paymentOf(paymentId: string) {
  return database.db
    .selectFrom('payments')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
}

/** What Stripe holds of a payment. */
function atStripe(paymentId: string) {
  return double.paymentIntentsOf(paymentId).map((intent) => ({
    id: intent.id,
    status: intent.status,
    amountReceived: intent.amount_received,
    refunded: double.refundsOf(intent.id).map((refund) => refund.amount),
  }));
}

describe('payment-handler paying through Stripe', () => {
  it('charges the customer off-session and answers PaymentSucceeded with the PaymentIntent', async () => {
    const customerId = `cust-${randomUUID()}`;
    double.addCustomer(customerId);
    const request = paymentRequested(customerId);
    const { orderId, paymentId } = request.data;

    expect(await deliver(request)).toBe(204);
    expect(await deliver(request)).toBe(204);

    const [intent] = atStripe(paymentId);
    expect(atStripe(paymentId)).toEqual([
      {
        id: expect.stringMatching(/^pi_/),
        status: 'succeeded',
        amountReceived: 2599,
        refunded: [],
      },
    ]);
    expect(await paymentOf(paymentId)).toMatchObject({
      status: 'charged',
      provider_ref: intent!.id,
      amount_minor: 2599,
    });
    expect(await emittedAbout(orderId)).toEqual([
      {
        type: 'PaymentSucceeded',
        data: { orderId, paymentId, providerRef: intent!.id, amountMinor: 2599, currency: 'EUR' },
      },
    ]);
    // The sandbox's ledger does not exist where Stripe pays.
    expect(await sandboxLedgerExists(database.db)).toBe(false);
  });

  it('answers a decline with PaymentFailed and its reason', async () => {
    const customerId = `cust-${randomUUID()}`;
    double.addCustomer(customerId, { declineCode: 'insufficient_funds' });
    const request = paymentRequested(customerId);
    const { orderId, paymentId } = request.data;

    expect(await deliver(request)).toBe(204);

    expect(await emittedAbout(orderId)).toEqual([
      { type: 'PaymentFailed', data: { orderId, paymentId, reason: 'insufficient_funds' } },
    ]);
    expect(atStripe(paymentId)).toMatchObject([{ amountReceived: 0 }]);
  });

  it('a charge that lands after our timeout: the order gives up, the void finds it charged, and it is refunded once', async () => {
    const customerId = `cust-${randomUUID()}`;
    double.addCustomer(customerId);
    const request = paymentRequested(customerId);
    const { orderId, paymentId } = request.data;
    double.fault(/\/confirm$/, { kind: 'land-late', ms: 1500 });

    // Stripe's answer does not come within STRIPE_TIMEOUT_MS: 500, nothing recorded.
    expect(await deliver(request)).toBe(500);
    expect(await paymentOf(paymentId)).toBeUndefined();
    await double.idle();
    expect(atStripe(paymentId)).toMatchObject([{ status: 'succeeded', amountReceived: 2599 }]);

    // The order's payment deadline passes: the saga asks for the payment back.
    const refund = refundRequested(request);
    expect(await deliver(refund)).toBe(204);
    expect(await deliver(refund)).toBe(204);

    const [intent] = atStripe(paymentId);
    expect(atStripe(paymentId)).toMatchObject([{ status: 'succeeded', refunded: [2599] }]);
    const payment = await paymentOf(paymentId);
    expect(payment).toMatchObject({
      status: 'refunded',
      provider_ref: intent!.id,
      refund_id: expect.stringMatching(/^re_/),
    });
    expect(await emittedAbout(orderId)).toEqual([
      {
        type: 'PaymentRefunded',
        data: {
          orderId,
          paymentId,
          refundId: payment!.refund_id,
          kind: 'refund',
          amountMinor: 2599,
          currency: 'EUR',
        },
      },
    ]);

    // Pub/Sub redelivers the first request: the payment is settled, nothing more moves.
    expect(await deliver(request)).toBe(204);
    expect(atStripe(paymentId)).toMatchObject([{ status: 'succeeded', refunded: [2599] }]);
    expect(await emittedAbout(orderId)).toHaveLength(1);
  });

  it('voids a payment whose order gave up before any charge: a late request is declined voided', async () => {
    const customerId = `cust-${randomUUID()}`;
    double.addCustomer(customerId);
    const request = paymentRequested(customerId);
    const { orderId, paymentId } = request.data;

    expect(await deliver(refundRequested(request))).toBe(204);
    expect(await deliver(request)).toBe(204);

    expect(atStripe(paymentId)).toMatchObject([{ status: 'canceled', amountReceived: 0 }]);
    expect((await emittedAbout(orderId)).map((event) => [event.type, event.data])).toEqual([
      ['PaymentRefunded', expect.objectContaining({ kind: 'void', amountMinor: 0 })],
      ['PaymentFailed', expect.objectContaining({ reason: 'voided' })],
    ]);
  });
});
