import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChargeRequest, RefundRequest } from './payment-provider';
import { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';
import { createStripeProvider, hostOptionsOf } from './stripe-provider';
import { chargeRequest, type StripeDouble, startStripeDouble, voidOf } from './testing';

// The real `stripe` SDK against a local double of the endpoints the provider calls.
let double: StripeDouble;
const timeoutMs = 400;
let provider: ReturnType<typeof createStripeProvider>;

beforeAll(async () => {
  double = await startStripeDouble();
  provider = createStripeProvider({ secretKey: double.secretKey, apiUrl: double.url, timeoutMs });
});
afterEach(() => double.idle());
afterAll(() => double?.close());

function refundOf(charge: ChargeRequest, chargeRef: string, amountMinor = charge.amountMinor) {
  return {
    idempotencyKey: `${charge.paymentId}:refund`,
    chargeIdempotencyKey: charge.idempotencyKey,
    chargeRef,
    paymentId: charge.paymentId,
    orderId: charge.orderId,
    amountMinor,
  } satisfies RefundRequest;
}

function customer(declineCode?: string) {
  const id = `cust-${randomUUID()}`;
  double.addCustomer(id, declineCode ? { declineCode } : {});
  return id;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** What Stripe holds of a payment: its PaymentIntents, with their refunds. */
function heldFor(paymentId: string) {
  return double.paymentIntentsOf(paymentId).map((intent) => ({
    status: intent.status,
    amount: intent.amount,
    amountReceived: intent.amount_received,
    currency: intent.currency,
    metadata: intent.metadata,
    refunded: double.refundsOf(intent.id).map((refund) => refund.amount),
  }));
}

describe('the Stripe provider', () => {
  it('charges off-session under our keys, keeps our ids in metadata, and answers a retry alike', async () => {
    const request = chargeRequest(customer());
    const seen = double.requests.length;
    const outcome = await provider.charge(request);
    expect(outcome).toEqual({ status: 'succeeded', providerRef: expect.stringMatching(/^pi_/) });
    expect(await provider.charge(request)).toEqual(outcome);

    expect(heldFor(request.paymentId)).toEqual([
      {
        status: 'succeeded',
        amount: 4448,
        amountReceived: 4448,
        currency: 'eur',
        metadata: {
          payment_id: request.paymentId,
          order_id: request.orderId,
          customer_id: request.customerId,
        },
        refunded: [],
      },
    ]);
    // Every request that changes something carries a key of ours.
    const posts = double.requests.slice(seen).filter((r) => r.route.startsWith('POST'));
    expect(posts.map((r) => [r.route.replace(/pi_\w+/, 'pi'), r.idempotencyKey])).toEqual(
      [1, 2].flatMap(() => [
        ['POST /v1/payment_intents', request.idempotencyKey],
        ['POST /v1/payment_intents/pi', `${request.idempotencyKey}:customer`],
        ['POST /v1/payment_intents/pi/confirm', `${request.idempotencyKey}:confirm`],
      ]),
    );
    expect(posts[2]!.params).toMatchObject({ off_session: 'true' });
  });

  it('maps card declines to our decline codes, the same on a retry, and charges nothing', async () => {
    const cases = [
      ['insufficient_funds', 'insufficient_funds'],
      ['fraudulent', 'fraud_suspected'],
      ['stolen_card', 'fraud_suspected'],
      ['generic_decline', 'declined'],
      ['do_not_honor', 'declined'],
    ] as const;
    for (const [stripeCode, ours] of cases) {
      const request = chargeRequest(customer(stripeCode));
      expect(await provider.charge(request)).toEqual({ status: 'declined', code: ours });
      expect(await provider.charge(request)).toEqual({ status: 'declined', code: ours });
      expect(heldFor(request.paymentId)).toMatchObject([
        { status: 'requires_payment_method', amountReceived: 0 },
      ]);
    }
  });

  it('declines a customer with no Stripe customer (or no default card on file)', async () => {
    const request = chargeRequest('cust-unknown-to-stripe');
    expect(await provider.charge(request)).toEqual({ status: 'declined', code: 'declined' });
    expect(heldFor(request.paymentId)).toMatchObject([{ amountReceived: 0 }]);
  });

  it('times out on an answer held past our timeout; the retry gets the first outcome, never a second charge', async () => {
    const request = chargeRequest(customer());
    double.fault(/\/confirm$/, { kind: 'hold-answer', ms: timeoutMs * 3 });
    const error = await rejection(provider.charge(request));
    expect(error).toBeInstanceOf(TransientProviderError);
    expect((error as TransientProviderError).idempotencyKey).toBe(request.idempotencyKey);
    expect(String(error)).toMatch(/timeout/);

    const outcome = await provider.charge(request);
    expect(outcome).toEqual({ status: 'succeeded', providerRef: expect.stringMatching(/^pi_/) });
    expect(heldFor(request.paymentId)).toMatchObject([
      { status: 'succeeded', amountReceived: 4448, refunded: [] },
    ]);
  });

  it('is transient on 5xx, 429, a key still in flight and lock_timeout, having done nothing', async () => {
    const faults = [
      [/^POST \/v1\/payment_intents$/, { kind: 'status', status: 500 }],
      [/\/confirm$/, { kind: 'status', status: 503 }],
      [/\/confirm$/, { kind: 'status', status: 429, code: 'rate_limit' }],
      [/\/confirm$/, { kind: 'status', status: 409, code: 'idempotency_key_in_use' }],
      [/^GET \/v1\/customers\/search$/, { kind: 'status', status: 429, code: 'lock_timeout' }],
    ] as const;
    for (const [route, fault] of faults) {
      const request = chargeRequest(customer());
      double.fault(route, fault);
      expect(await rejection(provider.charge(request))).toBeInstanceOf(TransientProviderError);
      expect(heldFor(request.paymentId).filter((held) => held.amountReceived > 0)).toEqual([]);
      expect(await provider.charge(request)).toMatchObject({ status: 'succeeded' });
      expect(heldFor(request.paymentId)).toMatchObject([{ amountReceived: 4448 }]);
    }
  });

  it('refuses a key used for other money (Stripe idempotency error) and moves nothing', async () => {
    const request = chargeRequest(customer());
    expect(await provider.charge(request)).toMatchObject({ status: 'succeeded' });
    const error = await rejection(provider.charge({ ...request, amountMinor: 9999 }));
    expect(error).toBeInstanceOf(ProviderIdempotencyConflictError);
    expect(String(error)).toMatch(/same parameters/);
    const voidError = await rejection(provider.void({ ...voidOf(request), currency: 'USD' }));
    expect(voidError).toBeInstanceOf(ProviderIdempotencyConflictError);
    expect(heldFor(request.paymentId)).toMatchObject([{ amount: 4448, amountReceived: 4448 }]);
  });

  it('voids a payment never charged: a charge arriving later is declined voided', async () => {
    const request = chargeRequest(customer());
    const voided = await provider.void(voidOf(request));
    expect(voided).toEqual({ status: 'voided', providerRef: expect.stringMatching(/^pi_/) });
    expect(await provider.void(voidOf(request))).toEqual(voided);
    expect(await provider.charge(request)).toEqual({ status: 'declined', code: 'voided' });
    expect(await provider.charge({ ...request, customerId: 'nobody-at-stripe' })).toEqual({
      status: 'declined',
      code: 'voided',
    });
    expect(heldFor(request.paymentId)).toMatchObject([{ status: 'canceled', amountReceived: 0 }]);
  });

  it('a charge that lands after our timeout: the void answers charged, and the refund pays it back once', async () => {
    const request = chargeRequest(customer());
    double.fault(/\/confirm$/, { kind: 'land-late', ms: timeoutMs * 2 });
    expect(await rejection(provider.charge(request))).toBeInstanceOf(TransientProviderError);
    await double.idle();

    const voided = await provider.void(voidOf(request));
    expect(voided).toEqual({ status: 'charged', providerRef: expect.stringMatching(/^pi_/) });
    const refund = refundOf(request, voided.providerRef);
    const refunded = await provider.refund(refund);
    expect(refunded).toEqual({
      status: 'succeeded',
      providerRef: expect.stringMatching(/^re_/),
      amountMinor: 4448,
      currency: 'EUR',
    });
    expect(await provider.refund(refund)).toEqual(refunded);
    expect(heldFor(request.paymentId)).toMatchObject([
      { status: 'succeeded', amountReceived: 4448, refunded: [4448] },
    ]);
  });

  it('a void that gets there while the charge is still on its way wins: the charge is declined voided', async () => {
    const request = chargeRequest(customer());
    double.fault(/\/confirm$/, { kind: 'land-late', ms: timeoutMs * 2 });
    expect(await rejection(provider.charge(request))).toBeInstanceOf(TransientProviderError);
    // The confirm is still on its way: a retry of it under its key is told so.
    expect(await rejection(provider.charge(request))).toBeInstanceOf(TransientProviderError);
    expect(await provider.void(voidOf(request))).toMatchObject({ status: 'voided' });
    await double.idle();
    expect(await provider.charge(request)).toEqual({ status: 'declined', code: 'voided' });
    expect(heldFor(request.paymentId)).toMatchObject([{ status: 'canceled', amountReceived: 0 }]);
  });

  it('refunds a succeeded charge once, never beyond what was charged, and never a payment not charged', async () => {
    const request = chargeRequest(customer());
    const charged = await provider.charge(request);
    if (charged.status !== 'succeeded') throw new Error('not charged');

    // (Under a key of its own: Stripe keeps a refused request's answer under its key too.)
    expect(
      await provider.refund({
        ...refundOf(request, charged.providerRef, 4449),
        idempotencyKey: `${request.paymentId}:refund-too-much`,
      }),
    ).toEqual({ status: 'declined', code: 'exceeds_charge' });
    expect(heldFor(request.paymentId)).toMatchObject([{ refunded: [] }]);
    expect(await provider.refund(refundOf(request, charged.providerRef))).toMatchObject({
      status: 'succeeded',
      amountMinor: 4448,
    });
    // Another refund key for the same charge: already paid back.
    expect(
      await provider.refund({
        ...refundOf(request, charged.providerRef),
        idempotencyKey: `${request.paymentId}:refund-again`,
      }),
    ).toEqual({ status: 'declined', code: 'already_refunded' });
    expect(heldFor(request.paymentId)).toMatchObject([{ refunded: [4448] }]);

    // A payment voided before any charge, a declined one, another payment's PaymentIntent,
    // and no PaymentIntent at all: nothing to pay back.
    const voided = chargeRequest(customer());
    const { providerRef: voidedRef } = await provider.void(voidOf(voided));
    const declined = chargeRequest(customer('insufficient_funds'));
    await provider.charge(declined);
    const [declinedIntent] = double.paymentIntentsOf(declined.paymentId);
    for (const refund of [
      refundOf(voided, voidedRef),
      refundOf(declined, declinedIntent!.id),
      refundOf(chargeRequest(), charged.providerRef),
      refundOf(voided, 'pi_does_not_exist'),
    ]) {
      expect(await provider.refund(refund)).toEqual({
        status: 'declined',
        code: 'charge_not_found',
      });
    }
    expect(heldFor(request.paymentId)).toMatchObject([{ refunded: [4448] }]);
  });

  it('turns an API base URL into the SDK host options', () => {
    expect(hostOptionsOf('http://127.0.0.1:12111')).toEqual({
      host: '127.0.0.1',
      port: '12111',
      protocol: 'http',
    });
    expect(hostOptionsOf('https://stripe.internal')).toEqual({
      host: 'stripe.internal',
      port: '443',
      protocol: 'https',
    });
  });
});
