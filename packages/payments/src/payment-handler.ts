import type { Database } from '@orders/db';
import { causedBy, createEvent, type DomainEvent } from '@orders/events';
import { type ConsumerContext, UnprocessableEventError } from '@orders/runtime';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { PaymentProvider } from './payment-provider';
import { ProviderIdempotencyConflictError } from './provider-errors';

export interface PaymentHandlerOptions {
  provider: PaymentProvider;
  /** The function emitting the events: their `source`. */
  source: string;
}

type Payment = Selectable<Database['payments']>;

/** The provider idempotency keys of a payment: one charge and one refund, ever. */
const chargeKeyOf = (paymentId: string) => `${paymentId}:charge`;
const refundKeyOf = (paymentId: string) => `${paymentId}:refund`;

/**
 * The payment service, as the `handle` of a transactional consumer of topic `payments`:
 * - PaymentRequested charges once and answers PaymentSucceeded or PaymentFailed; a payment
 *   already settled answers nothing more, except that a voided one answers PaymentFailed
 *   `voided` (its order gave up; the request may be a late replay);
 * - RefundRequested pays a charge back (PaymentRefunded `refund`) or, when nothing was
 *   charged, voids the payment so that no later request charges it (PaymentRefunded `void`);
 *   asked again, it pays nothing more and confirms again (the order asks when it has not heard).
 * Work on one payment is serialized, so two events about it never both reach the provider.
 * A transient provider error propagates (Pub/Sub redelivers, and the same idempotency key
 * settles it); any other type of event is dead-lettered: routing sent it here by mistake.
 */
export function createPaymentHandler({ provider, source }: PaymentHandlerOptions) {
  async function requestPayment(
    event: DomainEvent<'PaymentRequested'>,
    { trx, log, emit }: ConsumerContext,
  ) {
    const { orderId, paymentId, customerId, amountMinor, currency } = event.data;
    const payment = await lockPayment(trx, paymentId);
    if (payment?.status === 'voided') {
      log.info('payment request refused: the payment was voided', { paymentId });
      return emit(
        createEvent(
          'PaymentFailed',
          {
            orderId,
            paymentId,
            reason: 'voided',
            message: 'the payment was voided before it was charged',
          },
          causedBy(event, source),
        ),
      );
    }
    if (payment) {
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
      await trx
        .insertInto('payments')
        .values({ ...row, status: 'charged', provider_ref: outcome.providerRef })
        .execute();
      log.info('payment charged', { paymentId, amountMinor, currency });
      return emit(
        createEvent(
          'PaymentSucceeded',
          { orderId, paymentId, providerRef: outcome.providerRef, amountMinor, currency },
          causedBy(event, source),
        ),
      );
    }
    await trx
      .insertInto('payments')
      .values({ ...row, status: 'declined', failure_reason: outcome.code })
      .execute();
    log.info('payment declined', { paymentId, reason: outcome.code });
    return emit(
      createEvent(
        'PaymentFailed',
        { orderId, paymentId, reason: outcome.code },
        causedBy(event, source),
      ),
    );
  }

  async function refundPayment(
    event: DomainEvent<'RefundRequested'>,
    { trx, log, emit }: ConsumerContext,
  ) {
    const { orderId, paymentId, reason } = event.data;
    const payment = await lockPayment(trx, paymentId);
    if (payment?.status === 'refunded' || payment?.status === 'voided') {
      // Answered again, without paying anything: the order asks again when it has not heard.
      log.info('payment already paid back: confirmed again', { paymentId, status: payment.status });
      const voided = payment.status === 'voided';
      return emit(
        createEvent(
          'PaymentRefunded',
          {
            orderId,
            paymentId,
            refundId: payment.refund_id ?? `void-${paymentId}`,
            kind: voided ? 'void' : 'refund',
            amountMinor: voided ? 0 : payment.amount_minor,
            currency: payment.currency,
          },
          causedBy(event, source),
        ),
      );
    }

    // Asked even when this service never recorded a charge: a charge whose answer was lost
    // (then dead-lettered) exists at the provider only, and must not keep the money.
    const outcome = await provider
      .refund({
        idempotencyKey: refundKeyOf(paymentId),
        chargeIdempotencyKey: chargeKeyOf(paymentId),
      })
      .catch(refuseConflicts);

    if (outcome.status === 'succeeded') {
      if (payment?.status !== 'charged') {
        log.warn('refunded a charge this service had not recorded (its answer was lost)', {
          paymentId,
          providerRef: outcome.providerRef,
        });
      }
      await savePayment(trx, payment, {
        payment_id: paymentId,
        order_id: orderId,
        amount_minor: outcome.amountMinor,
        currency: outcome.currency,
        status: 'refunded',
        refund_id: outcome.providerRef,
      });
      log.info('payment refunded', { paymentId, reason, amountMinor: outcome.amountMinor });
      return emit(
        createEvent(
          'PaymentRefunded',
          {
            orderId,
            paymentId,
            refundId: outcome.providerRef,
            kind: 'refund',
            amountMinor: outcome.amountMinor,
            currency: outcome.currency,
          },
          causedBy(event, source),
        ),
      );
    }
    if (outcome.code === 'already_refunded' || payment?.status === 'charged') {
      // Money moved outside this service's keys: an operator must reconcile it.
      throw new UnprocessableEventError(
        `refund of payment ${paymentId} declined by the provider: ${outcome.code}`,
      );
    }

    // Never charged (no request yet, or declined): void it so that no request charges it.
    const voidId = `void-${event.id}`;
    await savePayment(trx, payment, {
      payment_id: paymentId,
      order_id: orderId,
      amount_minor: payment?.amount_minor ?? event.data.amountMinor,
      currency: payment?.currency ?? event.data.currency,
      status: 'voided',
      refund_id: voidId,
    });
    log.info('payment voided', { paymentId, reason });
    return emit(
      createEvent(
        'PaymentRefunded',
        {
          orderId,
          paymentId,
          refundId: voidId,
          kind: 'void',
          amountMinor: 0,
          currency: payment?.currency ?? event.data.currency,
        },
        causedBy(event, source),
      ),
    );
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
 * yet (the table holds settled outcomes only), then reads the row.
 */
async function lockPayment(trx: Kysely<Database>, paymentId: string) {
  await sql`select pg_advisory_xact_lock(${lockNamespace}, hashtext(${paymentId}))`.execute(trx);
  return trx
    .selectFrom('payments')
    .selectAll()
    .where('payment_id', '=', paymentId)
    .executeTakeFirst();
}

async function savePayment(
  trx: Kysely<Database>,
  existing: Payment | undefined,
  values: Pick<
    Payment,
    'payment_id' | 'order_id' | 'amount_minor' | 'currency' | 'status' | 'refund_id'
  >,
) {
  if (!existing) {
    await trx.insertInto('payments').values(values).execute();
    return;
  }
  await trx
    .updateTable('payments')
    .set({ status: values.status, refund_id: values.refund_id, updated_at: sql<Date>`now()` })
    .where('payment_id', '=', values.payment_id)
    .execute();
}

/** A key reused for another request will never settle: dead-letter, do not retry. */
function refuseConflicts(error: unknown): never {
  if (error instanceof ProviderIdempotencyConflictError) {
    throw new UnprocessableEventError(error.message);
  }
  throw error;
}
