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
  type RefundRequest,
  type VoidOutcome,
  type VoidRequest,
} from './payment-provider';
import { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';
import { migrateSandboxLedger, type SandboxLedgerTables } from './sandbox-ledger';
import {
  declineCodeOf,
  type FaultPoint,
  faultOf,
  faultyCustomerOf,
  latencyOf,
} from './sandbox-rules';

export interface SandboxProviderOptions {
  /** How long each call takes, like a remote provider's round trip. Default 20. */
  latencyMs?: number;
  /** The share of calls (0 to 1) that take `slowCallMs` instead. Default 0. */
  slowCallRate?: number;
  /** How long a slow call takes. Default 5000. */
  slowCallMs?: number;
  /**
   * The share of calls (0 to 1) that fail with a TransientProviderError, half of them
   * before the operation is recorded and half after. Default 0.
   */
  transientErrorRate?: number;
  /**
   * The share of the other calls (0 to 1) whose answer is lost (a TransientProviderError)
   * while the operation lands at the provider `lateLandingMs` later. Default 0.
   */
  lateLandingRate?: number;
  /** How long after its call a late operation lands. Default 2000. */
  lateLandingMs?: number;
  /** The randomness behind the rates, in [0, 1); tests pass their own. */
  random?: () => number;
}

export interface SandboxProvider extends PaymentProvider {
  /**
   * Resolves once every operation due to land late has landed (or rejects with the errors
   * of those that could not): await it before the provider's pool is closed, so that no
   * landing outlives a test.
   */
  settled(): Promise<void>;
}

type Operation = Selectable<SandboxLedgerTables['sandbox_provider_operations']>;

/**
 * A payment provider that behaves like a real one, for local runs, demos and tests (its
 * rules are in `sandbox-rules.ts`). It keeps its ledger in `sandbox_provider_operations`, as
 * a provider does on its side, and creates that table before its first operation where it
 * does not exist yet (`migrateSandboxLedger`): the insert of an operation is its idempotency guard
 * (`on conflict do nothing`, then read the winner), so concurrent calls with one key, from
 * any number of processes, move money once and all answer with the first outcome. A void
 * is recorded under the key of the charge it voids, so a charge and its void race for one
 * key. An operation that lands late goes through the same guard: if a retry or a void got
 * its key first, it lands as nothing.
 *
 * WARNING: give it a connection pool of its own, never a handler's transaction: a provider's
 * record does not roll back with the caller's, and a call must not wait for a connection
 * that the caller's open transaction holds.
 */
export function createSandboxProvider(
  database: Kysely<Database>,
  {
    latencyMs = 20,
    slowCallRate = 0,
    slowCallMs = 5000,
    transientErrorRate = 0,
    lateLandingRate = 0,
    lateLandingMs = 2000,
    random = Math.random,
  }: SandboxProviderOptions = {},
): SandboxProvider {
  const db = database.withTables<SandboxLedgerTables>();
  // Set up once per provider; a failed setup is tried again by the next call.
  let ledger: Promise<void> | undefined;
  const ledgerReady = () => {
    ledger ??= migrateSandboxLedger(database).catch((error: unknown) => {
      ledger = undefined;
      throw new Error(
        'the sandbox ledger sandbox_provider_operations does not exist and could not be created: run `pnpm sandbox-ledger` with DATABASE_URL as the database owner',
        { cause: error },
      );
    });
    return ledger;
  };
  // Calls under each key of a `flaky-` or `late-` customer. Kept in memory: a restarted
  // process fails the next attempts again, which a retry with the same key absorbs.
  const attempts = new Map<string, number>();
  const landings = new Set<Promise<void>>();
  const landingErrors: unknown[] = [];

  function faultFor(idempotencyKey: string, customerId: string): FaultPoint | undefined {
    let attempt = 0;
    if (faultyCustomerOf(customerId)) {
      attempt = (attempts.get(idempotencyKey) ?? 0) + 1;
      attempts.set(idempotencyKey, attempt);
    }
    return faultOf({ customerId, attempt, transientErrorRate, lateLandingRate, random });
  }

  function takeLatency(customerId: string) {
    return sleep(latencyOf({ customerId, latencyMs, slowCallRate, slowCallMs, random }));
  }

  /** Records an operation with the fault of its call, and answers its outcome. */
  async function perform<T>(
    idempotencyKey: string,
    customerId: string,
    record: () => Promise<T>,
  ): Promise<T> {
    const fault = faultFor(idempotencyKey, customerId);
    if (fault === 'before') throw unavailable(idempotencyKey);
    if (fault === 'late') {
      landLater(record);
      throw answerLost(idempotencyKey, 'it will land later');
    }
    const outcome = await record();
    if (fault === 'after') throw answerLost(idempotencyKey, 'it was recorded');
    return outcome;
  }

  function landLater(record: () => Promise<unknown>) {
    const landing: Promise<void> = sleep(lateLandingMs)
      .then(record)
      .then(
        () => undefined,
        (error: unknown) => {
          landingErrors.push(error);
        },
      )
      .finally(() => landings.delete(landing));
    landings.add(landing);
  }

  function find(idempotencyKey: string): Promise<Operation | undefined> {
    return db
      .selectFrom('sandbox_provider_operations')
      .selectAll()
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
  }

  async function recordCharge(request: ChargeRequest): Promise<ChargeOutcome> {
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
    // Lost the race (to a charge or a void), or a retry: the first operation under this key
    // is the answer.
    const operation = inserted ?? (await find(request.idempotencyKey));
    if (!operation) throw new Error(`operation ${request.idempotencyKey} vanished`);
    assertSamePayment(operation, request.idempotencyKey, request);
    return chargeOutcome(operation);
  }

  async function recordVoid(request: VoidRequest): Promise<VoidOutcome> {
    const inserted = await db
      .insertInto('sandbox_provider_operations')
      .values({
        idempotency_key: request.chargeIdempotencyKey,
        kind: 'void',
        payment_id: request.paymentId,
        order_id: request.orderId,
        customer_id: null,
        amount_minor: request.amountMinor,
        currency: request.currency,
        outcome: 'succeeded',
        decline_code: null,
        provider_ref: providerRef('vo'),
        charge_key: null,
      })
      .onConflict((conflict) => conflict.column('idempotency_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    const operation = inserted ?? (await find(request.chargeIdempotencyKey));
    if (!operation) throw new Error(`operation ${request.chargeIdempotencyKey} vanished`);
    assertSamePayment(operation, request.chargeIdempotencyKey, request);
    const charged = operation.kind === 'charge' && operation.outcome === 'succeeded';
    return { status: charged ? 'charged' : 'voided', providerRef: operation.provider_ref };
  }

  async function recordRefund(
    request: RefundRequest,
    charge: Operation | undefined,
  ): Promise<RefundOutcome> {
    if (
      charge?.kind !== 'charge' ||
      charge.outcome !== 'succeeded' ||
      charge.provider_ref !== request.chargeRef
    ) {
      return { status: 'declined', code: 'charge_not_found' };
    }
    if (request.amountMinor > charge.amount_minor) {
      return { status: 'declined', code: 'exceeds_charge' };
    }
    // Conflicts on the key (a retry) or on the one-refund-per-charge index (another key).
    const inserted = await db
      .insertInto('sandbox_provider_operations')
      .values({
        idempotency_key: request.idempotencyKey,
        kind: 'refund',
        payment_id: charge.payment_id,
        order_id: charge.order_id,
        customer_id: charge.customer_id,
        amount_minor: request.amountMinor,
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
    if (!operation) return { status: 'declined', code: 'already_refunded' };
    if (
      operation.kind !== 'refund' ||
      operation.charge_key !== charge.idempotency_key ||
      operation.amount_minor !== request.amountMinor
    ) {
      throw new ProviderIdempotencyConflictError(
        request.idempotencyKey,
        `it was a ${operation.kind} of ${operation.amount_minor} ${operation.currency} for ${operation.charge_key ?? operation.payment_id}`,
      );
    }
    return {
      status: 'succeeded',
      providerRef: operation.provider_ref,
      amountMinor: operation.amount_minor,
      currency: operation.currency,
    };
  }

  return {
    async charge(request) {
      await ledgerReady();
      await takeLatency(request.customerId);
      return perform(request.idempotencyKey, request.customerId, () => recordCharge(request));
    },

    async void(request) {
      await ledgerReady();
      // A void has no customer of its own: it takes the faults of the charge it finds.
      const existing = await find(request.chargeIdempotencyKey);
      await takeLatency(existing?.customer_id ?? '');
      return perform(request.chargeIdempotencyKey, existing?.customer_id ?? '', () =>
        recordVoid(request),
      );
    },

    async refund(request) {
      await ledgerReady();
      const charge = await find(request.chargeIdempotencyKey);
      await takeLatency(charge?.customer_id ?? '');
      return perform(request.idempotencyKey, charge?.customer_id ?? '', () =>
        recordRefund(request, charge),
      );
    },

    async settled() {
      while (landings.size > 0) await Promise.all(landings);
      const errors = landingErrors.splice(0);
      if (errors.length > 0) throw new AggregateError(errors, 'a late operation failed to land');
    },
  };
}

function unavailable(idempotencyKey: string) {
  return new TransientProviderError(
    'sandbox provider unavailable (503): nothing was done',
    idempotencyKey,
  );
}

function answerLost(idempotencyKey: string, what: 'it was recorded' | 'it will land later') {
  return new TransientProviderError(
    `sandbox provider timed out: the answer was lost, and ${what}`,
    idempotencyKey,
  );
}

function providerRef(kind: 'ch' | 'vo' | 're'): string {
  return `sbx_${kind}_${randomUUID().replaceAll('-', '')}`;
}

/** The operation under a charge's key must be of the same payment, for the same money. */
function assertSamePayment(
  operation: Operation,
  idempotencyKey: string,
  request: Omit<VoidRequest, 'chargeIdempotencyKey'> & { customerId?: string },
) {
  const same =
    (operation.kind === 'charge' || operation.kind === 'void') &&
    operation.payment_id === request.paymentId &&
    operation.order_id === request.orderId &&
    // A void names no customer.
    (operation.customer_id === null ||
      request.customerId === undefined ||
      operation.customer_id === request.customerId) &&
    operation.amount_minor === request.amountMinor &&
    operation.currency === request.currency;
  if (!same) {
    throw new ProviderIdempotencyConflictError(
      idempotencyKey,
      `it was a ${operation.kind} of ${operation.amount_minor} ${operation.currency} for payment ${operation.payment_id}`,
    );
  }
}

function chargeOutcome(operation: Operation): ChargeOutcome {
  if (operation.kind === 'void') return { status: 'declined', code: 'voided' };
  if (operation.outcome === 'succeeded') {
    return { status: 'succeeded', providerRef: operation.provider_ref };
  }
  const code = chargeDeclineCodes.find((known) => known === operation.decline_code);
  if (!code) throw new Error(`ledger row ${operation.idempotency_key} has no known decline code`);
  return { status: 'declined', code };
}
