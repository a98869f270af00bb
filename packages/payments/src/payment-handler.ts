import type { Database } from '@orders/db';
import { causedBy, createEvent, type DomainEvent, type EventData } from '@orders/events';
import { type ConsumerContext, UnprocessableEventError } from '@orders/runtime';
import { type Insertable, type Kysely, sql } from 'kysely';
import type { PaymentProvider } from './payment-provider';
import { ProviderIdempotencyConflictError } from './provider-errors';

export interface PaymentHandlerOptions {
  provider: PaymentProvider;
  /** The function emitting the events: their `source`. */
  source: string;
}

type PaymentRow = Insertable<Database['payments']>;

/** The provider idempotency keys of a payment: one charge (or its void) and one refund, ever. */
const chargeKeyOf = (paymentId: string) => `${paymentId}:charge`;
const refundKeyOf = (paymentId: string) => `${paymentId}:refund`;

/**
 * The payment service, as the `handle` of a transactional consumer of topic `payments`. The
 * provider holds the truth about money; the `payments` row records what it last said, and a
 * request about a payment that may still change at the provider asks it again:
 * - PaymentRequested charges once and answers PaymentSucceeded or PaymentFailed. A payment
 *   already charged, declined or refunded answers nothing more; a voided one is charged again
 *   under its key, which the provider answers with what it holds: declined `voided`, or the
 *   charge that got there first.
 * - RefundRequested pays a charge back (PaymentRefunded `refund`). When no charge is recorded
 *   (no request yet, a charge whose answer was lost, a decline, a void), it voids the charge's
 *   key at the provider: nothing charged means nothing can be any more (PaymentRefunded
 *   `void`), and a charge that got there first is refunded. A refunded payment is confirmed
 *   again without asking (the order asks when it has not heard).
 * Work on one payment is serialized, so two events about it never both reach the provider.
 * A transient provider error propagates (Pub/Sub redelivers, and the same idempotency key
 * settles it); any other type of event is dead-lettered: routing sent it here by mistake.
 * Events take their `occurredAt` from the database's clock: time is compared across
 * functions, so it comes from one clock.
 */
export function createPaymentHandler({ provider, source }: PaymentHandlerOptions) {
  async function requestPayment(
    event: DomainEvent<'PaymentRequested'>,
    { trx, log, emit }: ConsumerContext,
  ) {
    const { orderId, paymentId, customerId, amountMinor, currency } = event.data;
    const { payment, now } = await lockPayment(trx, paymentId);
    const origin = { ...causedBy(event, source), occurredAt: now };
    if (payment && payment.status !== 'voided') {
      return log.info('payment already settled; nothing to do', {
        paymentId,
        status: payment.status,
      });
    }

    const outcome = await provider
      .charge({
        idempotencyKey: chargeKeyOf(paymentId),
        paymentId,
        orderId,
        customerId,
        amountMinor,
        currency,
      })
      .catch(refuseConflicts);
    const row = {
      payment_id: paymentId,
      order_id: orderId,
      customer_id: customerId,
      amount_minor: amountMinor,
      currency,
    };
    if (outcome.status === 'succeeded') {
      if (payment) {
        log.warn('a payment recorded voided was charged at the provider: recorded charged', {
          paymentId,
          providerRef: outcome.providerRef,
        });
      }
      await savePayment(trx, { ...row, status: 'charged', provider_ref: outcome.providerRef });
      log.info('payment charged', { paymentId, amountMinor, currency });
      return emit(
        createEvent(
          'PaymentSucceeded',
          { orderId, paymentId, providerRef: outcome.providerRef, amountMinor, currency },
          origin,
        ),
      );
    }
    if (!payment) {
      const status = outcome.code === 'voided' ? 'voided' : 'declined';
      await savePayment(trx, { ...row, status, failure_reason: outcome.code });
    }
    log.info('payment declined', { paymentId, reason: outcome.code });
    return emit(
      createEvent(
        'PaymentFailed',
        {
          orderId,
          paymentId,
          reason: outcome.code,
          ...(outcome.code === 'voided'
            ? { message: 'the payment was voided before it was charged' }
            : {}),
        },
        origin,
      ),
    );
  }

  async function refundPayment(
    event: DomainEvent<'RefundRequested'>,
    { trx, log, emit }: ConsumerContext,
  ) {
    const { orderId, paymentId, reason } = event.data;
    const { payment, now } = await lockPayment(trx, paymentId);
    const origin = { ...causedBy(event, source), occurredAt: now };
    const amountMinor = payment?.amount_minor ?? event.data.amountMinor;
    const currency = payment?.currency ?? event.data.currency;
    const row = { payment_id: paymentId, order_id: orderId, amount_minor: amountMinor, currency };
    const confirm = (paidBack: Omit<EventData<'PaymentRefunded'>, 'orderId' | 'paymentId'>) =>
      emit(createEvent('PaymentRefunded', { orderId, paymentId, ...paidBack }, origin));

    if (payment?.status === 'refunded') {
      // Answered again, without paying anything: the order asks again when it has not heard.
      log.info('payment already refunded: confirmed again', { paymentId });
      return confirm({
        refundId: payment.refund_id ?? refundKeyOf(paymentId),
        kind: 'refund',
        amountMinor: payment.amount_minor,
        currency: payment.currency,
      });
    }

    let chargeRef = payment?.provider_ref ?? null;
    if (payment?.status !== 'charged') {
      // Nothing charged in our books, which the provider may contradict: a charge whose
      // answer was lost may have landed, or may still be on its way. The void settles it.
      const outcome = await provider
        .void({
          chargeIdempotencyKey: chargeKeyOf(paymentId),
          paymentId,
          orderId,
          amountMinor,
          currency,
        })
        .catch(refuseConflicts);
      if (outcome.status === 'voided') {
        await savePayment(trx, { ...row, status: 'voided', refund_id: outcome.providerRef });
        log.info('payment voided', { paymentId, reason });
        return confirm({ refundId: outcome.providerRef, kind: 'void', amountMinor: 0, currency });
      }
      log.warn(
        'the provider charged a payment this service had not recorded charged: refunding it',
        {
          paymentId,
          status: payment?.status ?? null,
          providerRef: outcome.providerRef,
        },
      );
      chargeRef = outcome.providerRef;
    }

    const outcome = await provider
      .refund({
        idempotencyKey: refundKeyOf(paymentId),
        chargeIdempotencyKey: chargeKeyOf(paymentId),
      })
      .catch(refuseConflicts);
    if (outcome.status === 'declined') {
      // Money moved outside this service's keys: an operator must reconcile it.
      throw new UnprocessableEventError(
        `refund of payment ${paymentId} declined by the provider: ${outcome.code}`,
      );
    }
    await savePayment(trx, {
      ...row,
      amount_minor: outcome.amountMinor,
      currency: outcome.currency,
      status: 'refunded',
      provider_ref: chargeRef,
      refund_id: outcome.providerRef,
    });
    log.info('payment refunded', { paymentId, reason, amountMinor: outcome.amountMinor });
    return confirm({
      refundId: outcome.providerRef,
      kind: 'refund',
      amountMinor: outcome.amountMinor,
      currency: outcome.currency,
    });
  }

  return async function handlePaymentEvent(
    event: DomainEvent,
    context: ConsumerContext,
  ): Promise<void> {
    switch (event.type) {
      case 'PaymentRequested':
        return requestPayment(event, context);
      case 'RefundRequested':
        return refundPayment(event, context);
      default:
        throw new UnprocessableEventError(`${source} does not handle ${event.type} events`);
    }
  };
}

/** Namespace of this service's advisory locks: the ASCII of "paym". */
const lockNamespace = 0x7061796d;

/**
 * Serializes work on one payment until the transaction ends, whether or not its row exists
 * yet (the table holds settled outcomes only), then reads the row. Also answers the
 * database's time once the lock is held: the time of the events this work emits. The row is
 * read in a statement of its own: a statement that waited for the lock would read it as it
 * was before the wait.
 */
async function lockPayment(trx: Kysely<Database>, paymentId: string) {
  // offset 0 keeps the lock in a subquery of its own, evaluated before the clock is read.
  const { rows } = await sql<{ now: Date }>`
    select clock_timestamp() as now
    from (select pg_advisory_xact_lock(${lockNamespace}, hashtext(${paymentId})) offset 0) as locked
  `.execute(trx);
  const payment = await trx
    .selectFrom('payments')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
  return { payment, now: rows[0]!.now };
}

/** Records what the provider said; a field left out keeps what was recorded before. */
async function savePayment(trx: Kysely<Database>, row: PaymentRow) {
  await trx
    .insertInto('payments')
    .values(row)
    .onConflict((conflict) =>
      conflict.column('payment_id').doUpdateSet({
        status: (eb) => eb.ref('excluded.status'),
        customer_id: sql`coalesce(excluded.customer_id, payments.customer_id)`,
        amount_minor: (eb) => eb.ref('excluded.amount_minor'),
        currency: (eb) => eb.ref('excluded.currency'),
        provider_ref: sql`coalesce(excluded.provider_ref, payments.provider_ref)`,
        failure_reason: sql`coalesce(excluded.failure_reason, payments.failure_reason)`,
        refund_id: sql`coalesce(excluded.refund_id, payments.refund_id)`,
        updated_at: sql<Date>`now()`,
      }),
    )
    .execute();
}

/** A key reused for another request will never settle: dead-letter, do not retry. */
function refuseConflicts(error: unknown): never {
  if (error instanceof ProviderIdempotencyConflictError) {
    throw new UnprocessableEventError(error.message);
  }
  throw error;
}
