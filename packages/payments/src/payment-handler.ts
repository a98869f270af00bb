import {
  causedBy,
  createEvent,
  type DomainEvent,
  type Envelope,
  type EventData,
  paymentIdOf,
} from '@orders/events';
import type { Logger } from '@orders/platform';
import { type Handled, UnprocessableEventError } from '@orders/runtime';
import type { PaymentProvider } from './payment-provider';
import type { PaymentRecord, PaymentStore, PaymentUnitOfWork } from './payment-store';
import { ProviderIdempotencyConflictError } from './provider-errors';

export interface PaymentHandlerOptions {
  provider: PaymentProvider;
  /** Where payments are recorded (every statement of handling a payments message). */
  store: PaymentStore;
  /** The function emitting the events: their `source`. */
  source: string;
}

/** The provider idempotency keys of a payment: one charge (or its void) and one refund, ever. */
const chargeKeyOf = (paymentId: string) => `${paymentId}:charge`;
const refundKeyOf = (paymentId: string) => `${paymentId}:refund`;

/**
 * The one payment of an order: the order saga names it `pay_<orderId>`. A request naming any
 * other payment for an order is refused, so no event can open a second payment of an order
 * (and a second charge). The order id is lower-case once decoded; the payment id is kept as
 * sent, so one spelled in upper case is refused too.
 */
function assertPaymentOfOrder({ orderId, paymentId }: { orderId: string; paymentId: string }) {
  if (paymentId !== paymentIdOf(orderId)) {
    throw new UnprocessableEventError(
      `payment ${JSON.stringify(paymentId)} is not the payment of order ${orderId} (${paymentIdOf(orderId)}): refused`,
    );
  }
}

/**
 * A request about a recorded payment must name the payment as recorded: a charge is made
 * once, of one amount; a refund pays back what was charged and no more.
 */
function assertSameMoney(
  what: 'PaymentRequested' | 'RefundRequested',
  payment: PaymentRecord,
  { amountMinor, currency }: { amountMinor: number; currency: string },
) {
  if (payment.amount_minor !== amountMinor || payment.currency !== currency) {
    throw new UnprocessableEventError(
      `${what} for ${amountMinor} ${currency} of payment ${payment.payment_id}, recorded ${payment.status} for ${payment.amount_minor} ${payment.currency}: refused`,
    );
  }
}

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
 * Work on one payment is serialized by its store, so two events about it never both reach
 * the provider.
 * A transient provider error propagates (Pub/Sub redelivers, and the same idempotency key
 * settles it); any other type of event is dead-lettered: routing sent it here by mistake.
 * Events take their `occurredAt` from the database's clock: time is compared across
 * functions, so it comes from one clock.
 */
export function createPaymentHandler({ provider, store, source }: PaymentHandlerOptions) {
  async function requestPayment(
    event: DomainEvent<'PaymentRequested'>,
    { payment, now, commit }: PaymentUnitOfWork,
    log: Logger,
  ) {
    const { orderId, paymentId, customerId, amountMinor, currency } = event.data;
    const origin = { ...causedBy(event, source), occurredAt: now };
    // A second request for the payment with other money is never charged: dead-lettered.
    if (payment) assertSameMoney('PaymentRequested', payment, { amountMinor, currency });
    if (payment && payment.status !== 'voided') {
      log.info('payment already settled; nothing to do', { paymentId, status: payment.status });
      return commit(undefined, []);
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
      log.info('payment charged', { paymentId, amountMinor, currency });
      return commit({ ...row, status: 'charged', provider_ref: outcome.providerRef }, [
        createEvent(
          'PaymentSucceeded',
          { orderId, paymentId, providerRef: outcome.providerRef, amountMinor, currency },
          origin,
        ),
      ]);
    }
    const status = outcome.code === 'voided' ? 'voided' : 'declined';
    log.info('payment declined', { paymentId, reason: outcome.code });
    return commit(payment ? undefined : { ...row, status, failure_reason: outcome.code }, [
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
    ]);
  }

  async function refundPayment(
    event: DomainEvent<'RefundRequested'>,
    { payment, now, commit }: PaymentUnitOfWork,
    log: Logger,
  ) {
    const { orderId, paymentId, reason, amountMinor, currency } = event.data;
    const origin = { ...causedBy(event, source), occurredAt: now };
    // Never more (or other money) than the payment recorded: dead-lettered.
    if (payment) assertSameMoney('RefundRequested', payment, { amountMinor, currency });
    const row = { payment_id: paymentId, order_id: orderId, amount_minor: amountMinor, currency };
    const refunded = (paidBack: Omit<EventData<'PaymentRefunded'>, 'orderId' | 'paymentId'>) => [
      createEvent('PaymentRefunded', { orderId, paymentId, ...paidBack }, origin),
    ];

    if (payment?.status === 'refunded') {
      // Answered again, without paying anything: the order asks again when it has not heard.
      log.info('payment already refunded: confirmed again', { paymentId });
      return commit(
        undefined,
        refunded({
          refundId: payment.refund_id ?? refundKeyOf(paymentId),
          kind: 'refund',
          amountMinor: payment.amount_minor,
          currency: payment.currency,
        }),
      );
    }

    let chargeRef = payment?.status === 'charged' ? payment.provider_ref : null;
    if (chargeRef === null) {
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
        log.info('payment voided', { paymentId, reason });
        return commit(
          { ...row, status: 'voided', refund_id: outcome.providerRef },
          refunded({ refundId: outcome.providerRef, kind: 'void', amountMinor: 0, currency }),
        );
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
        chargeRef,
        paymentId,
        orderId,
        amountMinor,
      })
      .catch(refuseConflicts);
    if (outcome.status === 'declined') {
      // Money moved outside this service's keys: an operator must reconcile it.
      throw new UnprocessableEventError(
        `refund of payment ${paymentId} declined by the provider: ${outcome.code}`,
      );
    }
    log.info('payment refunded', { paymentId, reason, amountMinor: outcome.amountMinor });
    return commit(
      {
        ...row,
        amount_minor: outcome.amountMinor,
        currency: outcome.currency,
        status: 'refunded',
        provider_ref: chargeRef,
        refund_id: outcome.providerRef,
      },
      refunded({
        refundId: outcome.providerRef,
        kind: 'refund',
        amountMinor: outcome.amountMinor,
        currency: outcome.currency,
      }),
    );
  }

  return async function handlePaymentEvent(
    event: DomainEvent,
    { log }: { log: Logger },
  ): Promise<Handled> {
    let handled: readonly Envelope[] | 'duplicate';
    if (event.type === 'PaymentRequested') {
      assertPaymentOfOrder(event.data);
      handled = await store.transact(event.id, event.data.paymentId, (unit) =>
        requestPayment(event, unit, log),
      );
    } else if (event.type === 'RefundRequested') {
      assertPaymentOfOrder(event.data);
      handled = await store.transact(event.id, event.data.paymentId, (unit) =>
        refundPayment(event, unit, log),
      );
    } else {
      throw new UnprocessableEventError(`${source} does not handle ${event.type} events`);
    }
    return handled === 'duplicate' ? 'duplicate' : { emitted: handled };
  };
}

/** A key reused for another request will never settle: dead-letter, do not retry. */
function refuseConflicts(error: unknown): never {
  if (error instanceof ProviderIdempotencyConflictError) {
    throw new UnprocessableEventError(error.message);
  }
  throw error;
}
