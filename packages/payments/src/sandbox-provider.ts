import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '@orders/db';
import type { Kysely, Selectable } from 'kysely';
import {
  type ChargeOutcome,
  type ChargeRequest,
  chargeDeclineCodes,
  type PaymentProvider,
  type RefundOutcome,
} from './payment-provider';
import { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';
import { declineCodeOf, type FaultPoint, faultOf, isFlakyCustomer } from './sandbox-rules';

export interface SandboxProviderOptions {
  /** How long each call takes, like a remote provider's round trip. Default 20. */
  latencyMs?: number;
  /**
   * The share of calls (0 to 1) that fail with a TransientProviderError, half of them
   * before the operation is recorded and half after. Default 0.
   */
  transientErrorRate?: number;
  /** The randomness behind `transientErrorRate`, in [0, 1); tests pass their own. */
  random?: () => number;
}

type Operation = Selectable<Database['sandbox_provider_operations']>;

/**
 * A payment provider that behaves like a real one, for local runs, demos and tests (its
 * rules are in `sandbox-rules.ts`). It keeps its ledger in `sandbox_provider_operations`, as
 * a provider does on its side: the insert of an operation is its idempotency guard
 * (`on conflict do nothing`, then read the winner), so concurrent calls with one key, from
 * any number of processes, move money once and all answer with the first outcome.
 *
 * WARNING: give it a connection pool of its own, never a handler's transaction: a provider's
 * record does not roll back with the caller's, and a call must not wait for a connection
 * that the caller's open transaction holds.
 */
export function createSandboxProvider(
  db: Kysely<Database>,
  { latencyMs = 20, transientErrorRate = 0, random = Math.random }: SandboxProviderOptions = {},
): PaymentProvider {
  // Attempts of each operation of a `flaky-` customer. Kept in memory: a restarted process
  // fails the next two attempts again, which a retry with the same key absorbs.
  const attempts = new Map<string, number>();

  function faultFor(idempotencyKey: string, customerId: string): FaultPoint | undefined {
    let attempt = 0;
    if (isFlakyCustomer(customerId)) {
      attempt = (attempts.get(idempotencyKey) ?? 0) + 1;
      attempts.set(idempotencyKey, attempt);
    }
    return faultOf({ customerId, attempt, transientErrorRate, random });
  }

  function find(idempotencyKey: string): Promise<Operation | undefined> {
    return db
      .selectFrom('sandbox_provider_operations')
      .selectAll()
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
  }

  return {
    async charge(request) {
      await sleep(latencyMs);
      const fault = faultFor(request.idempotencyKey, request.customerId);
      if (fault === 'before') throw unavailable(request.idempotencyKey);

      const declineCode = declineCodeOf(request.customerId) ?? null;
      const inserted = await db
        .insertInto('sandbox_provider_operations')
        .values({
          idempotency_key: request.idempotencyKey,
          kind: 'charge',
          payment_id: request.paymentId,
          order_id: request.orderId,
          customer_id: request.customerId,
          amount_minor: request.amountMinor,
          currency: request.currency,
          outcome: declineCode ? 'declined' : 'succeeded',
          decline_code: declineCode,
          provider_ref: providerRef('ch'),
          charge_key: null,
        })
        .onConflict((conflict) => conflict.column('idempotency_key').doNothing())
        .returningAll()
        .executeTakeFirst();
      // Lost the race, or a retry: the first operation under this key is the answer.
      const operation = inserted ?? (await find(request.idempotencyKey));
      if (!operation) throw new Error(`operation ${request.idempotencyKey} vanished`);
      assertSameCharge(operation, request);

      if (fault === 'after') throw answerLost(request.idempotencyKey);
      return chargeOutcome(operation);
    },

    async refund(request) {
      await sleep(latencyMs);
      const charge = await find(request.chargeIdempotencyKey);
      const fault = faultFor(request.idempotencyKey, charge?.customer_id ?? '');
      if (fault === 'before') throw unavailable(request.idempotencyKey);

      let outcome: RefundOutcome;
      if (charge?.kind !== 'charge' || charge.outcome !== 'succeeded') {
        outcome = { status: 'declined', code: 'charge_not_found' };
      } else {
        // Conflicts on the key (a retry) or on the one-refund-per-charge index (another key).
        const inserted = await db
          .insertInto('sandbox_provider_operations')
          .values({
            idempotency_key: request.idempotencyKey,
            kind: 'refund',
            payment_id: charge.payment_id,
            order_id: charge.order_id,
            customer_id: charge.customer_id,
            amount_minor: charge.amount_minor,
            currency: charge.currency,
            outcome: 'succeeded',
            decline_code: null,
            provider_ref: providerRef('re'),
            charge_key: charge.idempotency_key,
          })
          .onConflict((conflict) => conflict.doNothing())
          .returningAll()
          .executeTakeFirst();
        const operation = inserted ?? (await find(request.idempotencyKey));
        if (!operation) {
          outcome = { status: 'declined', code: 'already_refunded' };
        } else {
          if (operation.kind !== 'refund' || operation.charge_key !== charge.idempotency_key) {
            throw new ProviderIdempotencyConflictError(
              request.idempotencyKey,
              `it was a ${operation.kind} of ${operation.charge_key ?? operation.payment_id}`,
            );
          }
          outcome = {
            status: 'succeeded',
            providerRef: operation.provider_ref,
            amountMinor: operation.amount_minor,
            currency: operation.currency,
          };
        }
      }

      if (fault === 'after') throw answerLost(request.idempotencyKey);
      return outcome;
    },
  };
}

function unavailable(idempotencyKey: string) {
  return new TransientProviderError(
    'sandbox provider unavailable (503): nothing was done',
    idempotencyKey,
  );
}

function answerLost(idempotencyKey: string) {
  return new TransientProviderError(
    'sandbox provider timed out: the operation was recorded but its answer was lost',
    idempotencyKey,
  );
}

function providerRef(kind: 'ch' | 're'): string {
  return `sbx_${kind}_${randomUUID().replaceAll('-', '')}`;
}

function assertSameCharge(operation: Operation, request: ChargeRequest) {
  const same =
    operation.kind === 'charge' &&
    operation.payment_id === request.paymentId &&
    operation.order_id === request.orderId &&
    operation.customer_id === request.customerId &&
    operation.amount_minor === request.amountMinor &&
    operation.currency === request.currency;
  if (!same) {
    throw new ProviderIdempotencyConflictError(
      request.idempotencyKey,
      `it was a ${operation.kind} of ${operation.amount_minor} ${operation.currency} for payment ${operation.payment_id}`,
    );
  }
}

function chargeOutcome(operation: Operation): ChargeOutcome {
  if (operation.outcome === 'succeeded') {
    return { status: 'succeeded', providerRef: operation.provider_ref };
  }
  const code = chargeDeclineCodes.find((known) => known === operation.decline_code);
  if (!code) throw new Error(`ledger row ${operation.idempotency_key} has no known decline code`);
  return { status: 'declined', code };
}
