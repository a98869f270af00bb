import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDb } from '@orders/db';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import type { ChargeRequest, RefundRequest } from './payment-provider';
import { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';
import { migrateSandboxLedger, type SandboxLedgerTables } from './sandbox-ledger';
import { createSandboxProvider } from './sandbox-provider';
import { chargeRequest, voidOf } from './testing';

let database: TestDatabase;
let otherPool: ReturnType<typeof createDb>;

beforeAll(async () => {
  database = await testDatabase('sandbox-provider');
  await migrateSandboxLedger(database.db);
  otherPool = createDb(database.url);
});

afterAll(async () => {
  await otherPool?.destroy();
  await database?.close();
});

function ledgerOf(paymentId: string) {
  return database.db
    .withTables<SandboxLedgerTables>()
    .selectFrom('sandbox_provider_operations')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .orderBy('kind')
    .execute();
}

/** The refund of the charge of `charge`, as the payment service asks for it. */
async function refundOf(
  charge: ChargeRequest,
  idempotencyKey = `${charge.paymentId}:refund`,
): Promise<RefundRequest> {
  const operation = await database.db
    .withTables<SandboxLedgerTables>()
    .selectFrom('sandbox_provider_operations')
    .select('provider_ref')
    .where('idempotency_key', '=', charge.idempotencyKey)
    .executeTakeFirst();
  return {
    idempotencyKey,
    chargeIdempotencyKey: charge.idempotencyKey,
    chargeRef: operation?.provider_ref ?? 'sbx_ch_none',
    paymentId: charge.paymentId,
    orderId: charge.orderId,
    amountMinor: charge.amountMinor,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('the sandbox provider', () => {
  it('charges, records the charge in its ledger, and takes its latency', async () => {
    const provider = createSandboxProvider(database.db, { latencyMs: 50 });
    const request = chargeRequest();
    const started = performance.now();
    const outcome = await provider.charge(request);
    const elapsed = performance.now() - started;

    expect(outcome).toEqual({
      status: 'succeeded',
      providerRef: expect.stringMatching(/^sbx_ch_/),
    });
    expect(elapsed).toBeGreaterThanOrEqual(49);
    expect(await ledgerOf(request.paymentId)).toEqual([
      expect.objectContaining({
        idempotency_key: request.idempotencyKey,
        kind: 'charge',
        customer_id: 'cust-1',
        amount_minor: 4448,
        currency: 'EUR',
        outcome: 'succeeded',
        decline_code: null,
        provider_ref: outcome.status === 'succeeded' ? outcome.providerRef : '',
        charge_key: null,
      }),
    ]);
  });

  it('charges once for 20 concurrent calls with one key from two processes, all answered alike', async () => {
    const request = chargeRequest();
    const providers = [database.db, otherPool].map((db) =>
      createSandboxProvider(db, { latencyMs: 0 }),
    );
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => providers[i % 2]!.charge(request)),
    );

    const ledger = await ledgerOf(request.paymentId);
    expect(ledger).toHaveLength(1);
    expect(new Set(outcomes.map((outcome) => JSON.stringify(outcome)))).toEqual(
      new Set([JSON.stringify({ status: 'succeeded', providerRef: ledger[0]!.provider_ref })]),
    );
  });

  it('answers a key with its first outcome after a restart (a fresh provider and pool)', async () => {
    const request = chargeRequest();
    const first = await createSandboxProvider(database.db, { latencyMs: 0 }).charge(request);
    const restartedPool = createDb(database.url);
    try {
      const again = await createSandboxProvider(restartedPool, { latencyMs: 0 }).charge(request);
      expect(again).toEqual(first);
    } finally {
      await restartedPool.destroy();
    }
    expect(await ledgerOf(request.paymentId)).toHaveLength(1);
  });

  it.each([
    ['decline-1', 'declined'],
    ['nofunds-1', 'insufficient_funds'],
    ['fraud-1', 'fraud_suspected'],
  ])('declines customer %s with %s, and records the decline', async (customerId, code) => {
    const provider = createSandboxProvider(database.db, { latencyMs: 0 });
    const request = chargeRequest(customerId);
    expect(await provider.charge(request)).toEqual({ status: 'declined', code });
    expect(await provider.charge(request)).toEqual({ status: 'declined', code });
    expect(await ledgerOf(request.paymentId)).toEqual([
      expect.objectContaining({ kind: 'charge', outcome: 'declined', decline_code: code }),
    ]);
  });

  it('refuses a key reused for another amount, and charges nothing more', async () => {
    const provider = createSandboxProvider(database.db, { latencyMs: 0 });
    const request = chargeRequest();
    await provider.charge(request);
    const error = await rejection(provider.charge({ ...request, amountMinor: 1 }));
    expect(error).toBeInstanceOf(ProviderIdempotencyConflictError);
    expect((error as Error).message).toMatch(/was used for another request.*4448 EUR/);
    expect(await ledgerOf(request.paymentId)).toHaveLength(1);
  });

  it('fails a flaky- customer before recording, then after recording, then answers the one charge', async () => {
    const provider = createSandboxProvider(database.db, { latencyMs: 0 });
    const request = chargeRequest('flaky-1');

    const first = await rejection(provider.charge(request));
    expect(first).toBeInstanceOf(TransientProviderError);
    expect((first as Error).message).toMatch(/unavailable/);
    expect(await ledgerOf(request.paymentId)).toEqual([]);

    const second = await rejection(provider.charge(request));
    expect(second).toBeInstanceOf(TransientProviderError);
    expect((second as Error).message).toMatch(/answer was lost/);
    const ledger = await ledgerOf(request.paymentId);
    expect(ledger).toHaveLength(1);

    expect(await provider.charge(request)).toEqual({
      status: 'succeeded',
      providerRef: ledger[0]!.provider_ref,
    });
    expect(await ledgerOf(request.paymentId)).toHaveLength(1);
  });

  it('fails every call at a transient error rate of 1, half of them after recording', async () => {
    const draws = [0, 0.9, 0, 0.1];
    const provider = createSandboxProvider(database.db, {
      latencyMs: 0,
      transientErrorRate: 1,
      random: () => draws.shift()!,
    });
    const request = chargeRequest();
    expect(await rejection(provider.charge(request))).toBeInstanceOf(TransientProviderError);
    expect(await ledgerOf(request.paymentId)).toHaveLength(1); // failed after: recorded
    const other = chargeRequest();
    expect(await rejection(provider.charge(other))).toBeInstanceOf(TransientProviderError);
    expect(await ledgerOf(other.paymentId)).toEqual([]); // failed before: nothing
  });

  it('takes slowCallMs for a slow call', async () => {
    const provider = createSandboxProvider(database.db, {
      latencyMs: 0,
      slowCallRate: 1,
      slowCallMs: 300,
    });
    const started = performance.now();
    await provider.charge(chargeRequest());
    expect(performance.now() - started).toBeGreaterThanOrEqual(299);
  });

  describe('late landings', () => {
    it("loses the answer of a late- customer's first charge, then lands it lateLandingMs later", async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0, lateLandingMs: 300 });
      const request = chargeRequest('late-1');

      const started = performance.now();
      const error = await rejection(provider.charge(request));
      expect(error).toBeInstanceOf(TransientProviderError);
      expect((error as Error).message).toMatch(/answer was lost, and it will land later/);
      expect(await ledgerOf(request.paymentId)).toEqual([]);

      await provider.settled();
      expect(performance.now() - started).toBeGreaterThanOrEqual(299);
      const ledger = await ledgerOf(request.paymentId);
      expect(ledger).toEqual([
        expect.objectContaining({ kind: 'charge', outcome: 'succeeded', customer_id: 'late-1' }),
      ]);
      // The retry that follows a lost answer gets the charge that landed.
      expect(await provider.charge(request)).toEqual({
        status: 'succeeded',
        providerRef: ledger[0]!.provider_ref,
      });
      expect(await ledgerOf(request.paymentId)).toHaveLength(1);
    });

    it('lands as nothing when a retry recorded the operation first', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0, lateLandingMs: 500 });
      const request = chargeRequest('late-2');
      expect(await rejection(provider.charge(request))).toBeInstanceOf(TransientProviderError);

      const retried = await provider.charge(request);
      expect(await ledgerOf(request.paymentId)).toHaveLength(1);
      // A landing that ignored the guard would fail on the key: settled() would reject.
      await provider.settled();

      const ledger = await ledgerOf(request.paymentId);
      expect(ledger).toHaveLength(1);
      expect(retried).toEqual({ status: 'succeeded', providerRef: ledger[0]!.provider_ref });
    });

    it("lands a late- customer's first refund late, and pays back once", async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0, lateLandingMs: 200 });
      const charge = chargeRequest('late-3');
      await rejection(provider.charge(charge));
      await provider.settled();
      const refund = await refundOf(charge);

      expect(await rejection(provider.refund(refund))).toBeInstanceOf(TransientProviderError);
      expect((await ledgerOf(charge.paymentId)).map((row) => row.kind)).toEqual(['charge']);
      await provider.settled();
      expect((await ledgerOf(charge.paymentId)).map((row) => row.kind)).toEqual([
        'charge',
        'refund',
      ]);
      expect(await provider.refund(refund)).toMatchObject({
        status: 'succeeded',
        amountMinor: 4448,
      });
    });

    it('lands a share lateLandingRate of calls late, whatever the customer', async () => {
      const draws = [0.5, 0.9];
      const provider = createSandboxProvider(database.db, {
        latencyMs: 0,
        lateLandingRate: 0.6,
        lateLandingMs: 100,
        random: () => draws.shift()!,
      });
      const late = chargeRequest();
      const onTime = chargeRequest();

      expect(await rejection(provider.charge(late))).toBeInstanceOf(TransientProviderError);
      expect(await provider.charge(onTime)).toMatchObject({ status: 'succeeded' });
      expect(draws).toEqual([]);
      expect(await ledgerOf(late.paymentId)).toEqual([]);
      await provider.settled();
      expect(await ledgerOf(late.paymentId)).toHaveLength(1);
    });

    it('reports an operation that failed to land when settled', async () => {
      const request = chargeRequest();
      await createSandboxProvider(database.db, { latencyMs: 0 }).charge(request);
      const provider = createSandboxProvider(database.db, {
        latencyMs: 0,
        lateLandingRate: 1,
        lateLandingMs: 0,
      });
      // The same key for another amount: refused, which only the landing finds out.
      const conflicting = { ...request, amountMinor: 1 };
      expect(await rejection(provider.charge(conflicting))).toBeInstanceOf(TransientProviderError);

      const error = await rejection(provider.settled());
      expect(error).toBeInstanceOf(AggregateError);
      expect((error as AggregateError).errors).toEqual([
        expect.any(ProviderIdempotencyConflictError),
      ]);
      await provider.settled(); // reported once
    });
  });

  describe('voids', () => {
    it('voids a key never charged, under that key, and declines a charge arriving after with voided', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest();

      const outcome = await provider.void(voidOf(charge));

      const ledger = await ledgerOf(charge.paymentId);
      expect(ledger).toEqual([
        expect.objectContaining({
          idempotency_key: charge.idempotencyKey,
          kind: 'void',
          customer_id: null,
          amount_minor: 4448,
          outcome: 'succeeded',
          provider_ref: expect.stringMatching(/^sbx_vo_/),
          charge_key: null,
        }),
      ]);
      expect(outcome).toEqual({ status: 'voided', providerRef: ledger[0]!.provider_ref });
      expect(await provider.void(voidOf(charge))).toEqual(outcome);
      expect(await provider.charge(charge)).toEqual({ status: 'declined', code: 'voided' });
      expect(await provider.refund(await refundOf(charge))).toEqual({
        status: 'declined',
        code: 'charge_not_found',
      });
      expect(await ledgerOf(charge.paymentId)).toHaveLength(1);
    });

    it('answers charged for a key charged first, and leaves the charge as it was', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest();
      const charged = await provider.charge(charge);

      const outcome = await provider.void(voidOf(charge));

      const ledger = await ledgerOf(charge.paymentId);
      expect(ledger.map((row) => [row.kind, row.outcome])).toEqual([['charge', 'succeeded']]);
      expect(outcome).toEqual({ status: 'charged', providerRef: ledger[0]!.provider_ref });
      expect(charged).toEqual({ status: 'succeeded', providerRef: ledger[0]!.provider_ref });
      expect(await provider.void(voidOf(charge))).toEqual(outcome);
    });

    it('voids a declined charge: nothing was charged', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest('nofunds-3');
      await provider.charge(charge);

      const outcome = await provider.void(voidOf(charge));

      const ledger = await ledgerOf(charge.paymentId);
      expect(ledger.map((row) => [row.kind, row.outcome])).toEqual([['charge', 'declined']]);
      expect(outcome).toEqual({ status: 'voided', providerRef: ledger[0]!.provider_ref });
      expect(await provider.charge(charge)).toEqual({
        status: 'declined',
        code: 'insufficient_funds',
      });
    });

    it('decides a void and a charge racing under one key from two processes once, and both answers agree', async () => {
      const [charging, voiding] = [database.db, otherPool].map((db) =>
        createSandboxProvider(db, { latencyMs: 0 }),
      );
      const races = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const charge = chargeRequest();
          const [charged, voided] = await Promise.all([
            charging!.charge(charge),
            voiding!.void(voidOf(charge)),
          ]);
          return { charge, charged, voided, ledger: await ledgerOf(charge.paymentId) };
        }),
      );

      for (const { charge, charged, voided, ledger } of races) {
        expect(ledger).toHaveLength(1);
        const [winner] = ledger;
        expect(winner).toMatchObject({ idempotency_key: charge.idempotencyKey });
        if (winner!.kind === 'charge') {
          expect(charged).toEqual({ status: 'succeeded', providerRef: winner!.provider_ref });
          expect(voided).toEqual({ status: 'charged', providerRef: winner!.provider_ref });
        } else {
          expect(winner).toMatchObject({ kind: 'void', outcome: 'succeeded' });
          expect(charged).toEqual({ status: 'declined', code: 'voided' });
          expect(voided).toEqual({ status: 'voided', providerRef: winner!.provider_ref });
        }
      }
    });

    it('refuses to void a key used for another payment or amount, and records nothing', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest();
      await provider.charge(charge);
      for (const other of [
        { ...voidOf(charge), amountMinor: 1 },
        { ...voidOf(charge), paymentId: 'pay-other' },
      ]) {
        const error = await rejection(provider.void(other));
        expect(error).toBeInstanceOf(ProviderIdempotencyConflictError);
      }
      const voided = chargeRequest();
      await provider.void(voidOf(voided));
      expect(await rejection(provider.charge({ ...voided, currency: 'USD' }))).toBeInstanceOf(
        ProviderIdempotencyConflictError,
      );
      expect((await ledgerOf(charge.paymentId)).map((row) => row.kind)).toEqual(['charge']);
      expect((await ledgerOf(voided.paymentId)).map((row) => row.kind)).toEqual(['void']);
    });

    it("lands a late- customer's charge as nothing when its key was voided first", async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0, lateLandingMs: 500 });
      const charge = chargeRequest('late-4');
      expect(await rejection(provider.charge(charge))).toBeInstanceOf(TransientProviderError);

      const voided = await provider.void(voidOf(charge));
      await provider.settled();

      const ledger = await ledgerOf(charge.paymentId);
      expect(ledger.map((row) => [row.kind, row.outcome])).toEqual([['void', 'succeeded']]);
      expect(voided).toEqual({ status: 'voided', providerRef: ledger[0]!.provider_ref });
      expect(await provider.charge(charge)).toEqual({ status: 'declined', code: 'voided' });
    });

    it('lands a late void as nothing when the charge got its key first', async () => {
      const draws = [0.1, 0.9];
      const provider = createSandboxProvider(database.db, {
        latencyMs: 0,
        lateLandingRate: 0.5,
        lateLandingMs: 300,
        random: () => draws.shift()!,
      });
      const charge = chargeRequest();
      expect(await rejection(provider.void(voidOf(charge)))).toBeInstanceOf(TransientProviderError);

      const charged = await provider.charge(charge);
      await provider.settled();

      const ledger = await ledgerOf(charge.paymentId);
      expect(ledger.map((row) => [row.kind, row.outcome])).toEqual([['charge', 'succeeded']]);
      expect(charged).toEqual({ status: 'succeeded', providerRef: ledger[0]!.provider_ref });
      expect(draws).toEqual([]);
    });
  });

  describe('refunds', () => {
    it('pays a charge back in full, once, whatever the number of calls with its key', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest();
      await provider.charge(charge);
      const refund = await refundOf(charge);
      const outcomes = await Promise.all(Array.from({ length: 6 }, () => provider.refund(refund)));

      const ledger = await ledgerOf(charge.paymentId);
      expect(ledger.map((row) => [row.kind, row.outcome, row.amount_minor])).toEqual([
        ['charge', 'succeeded', 4448],
        ['refund', 'succeeded', 4448],
      ]);
      expect(ledger[1]).toMatchObject({ charge_key: charge.idempotencyKey, customer_id: 'cust-1' });
      for (const outcome of outcomes) {
        expect(outcome).toEqual({
          status: 'succeeded',
          providerRef: ledger[1]!.provider_ref,
          amountMinor: 4448,
          currency: 'EUR',
        });
      }
    });

    it('pays a charge back once when refunds under different keys race', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest();
      await provider.charge(charge);
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          refundOf(charge, `${charge.paymentId}:refund-${i}`).then(provider.refund),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.status === 'succeeded')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.status === 'declined')).toEqual(
        Array(5).fill({ status: 'declined', code: 'already_refunded' }),
      );
      expect((await ledgerOf(charge.paymentId)).map((row) => row.kind)).toEqual([
        'charge',
        'refund',
      ]);
    });

    it('declines to refund a declined charge or one never made, and records nothing', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const declined = chargeRequest('nofunds-2');
      await provider.charge(declined);
      for (const charge of [declined, chargeRequest()]) {
        expect(await provider.refund(await refundOf(charge))).toEqual({
          status: 'declined',
          code: 'charge_not_found',
        });
      }
      expect(await ledgerOf(declined.paymentId)).toHaveLength(1);
    });

    it('refuses a refund of more than was charged, or of a charge it names wrongly, and records nothing', async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest();
      await provider.charge(charge);
      const refund = await refundOf(charge);
      expect(
        await provider.refund({ ...refund, idempotencyKey: 'too-much', amountMinor: 4449 }),
      ).toEqual({ status: 'declined', code: 'exceeds_charge' });
      expect(
        await provider.refund({ ...refund, idempotencyKey: 'wrong-ref', chargeRef: 'sbx_ch_x' }),
      ).toEqual({ status: 'declined', code: 'charge_not_found' });
      expect((await ledgerOf(charge.paymentId)).map((row) => row.kind)).toEqual(['charge']);

      // Its key reused for another amount is refused.
      await provider.refund(refund);
      expect(await rejection(provider.refund({ ...refund, amountMinor: 4000 }))).toBeInstanceOf(
        ProviderIdempotencyConflictError,
      );
      expect((await ledgerOf(charge.paymentId)).map((row) => row.amount_minor)).toEqual([
        4448, 4448,
      ]);
    });

    it("fails a flaky- customer's refund twice, then pays back once", async () => {
      const provider = createSandboxProvider(database.db, { latencyMs: 0 });
      const charge = chargeRequest('flaky-3');
      await rejection(provider.charge(charge));
      await rejection(provider.charge(charge));
      await provider.charge(charge);
      const refund = await refundOf(charge);
      expect(await rejection(provider.refund(refund))).toBeInstanceOf(TransientProviderError);
      expect(await rejection(provider.refund(refund))).toBeInstanceOf(TransientProviderError);
      expect(await provider.refund(refund)).toMatchObject({
        status: 'succeeded',
        amountMinor: 4448,
      });
      expect((await ledgerOf(charge.paymentId)).map((row) => row.kind)).toEqual([
        'charge',
        'refund',
      ]);
    });
  });
});
