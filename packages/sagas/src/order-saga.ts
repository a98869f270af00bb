import { createEvent, type DomainEvent, type EventData, type EventType } from '@orders/events';
import { type DecideContext, decision, NEW, type Outcome, type SagaDefinition } from './saga';

export type OrderSagaStatus =
  | 'RESERVING_STOCK'
  | 'AWAITING_PAYMENT'
  | 'CONFIRMED'
  | 'CANCELLED'
  | 'NEEDS_ATTENTION';

type CancelReason = EventData<'OrderCancelled'>['reason'];

export interface OrderSagaState {
  status: OrderSagaStatus;
  orderId: string;
  customerId: string;
  currency: string;
  totalMinor: number;
  items: { sku: string; quantity: number }[];
  correlationId: string;
  /** Derived from the order, so that a retried request can never charge twice. */
  paymentId: string;
  cancelReason?: CancelReason;
  /** The compensation of the payment step, once asked for. */
  refund?: { reason: EventData<'RefundRequested'>['reason']; requests: number; done: boolean };
  /**
   * Compensations that kept failing when the saga was parked: what it still owes (stock to
   * put back). Everything else its decision asked for was carried out.
   */
  owed?: OwedCompensation[];
}

/** A compensation the saga could not carry out, kept until an operator settles it. */
type OwedCompensation = Extract<OrderSagaCommand, { compensation: true }>;

/** What wakes the saga: its events, the outcome of its own stock step, and its deadline. */
export type OrderSagaInput =
  | DomainEvent<'OrderPlaced' | 'PaymentSucceeded' | 'PaymentFailed' | 'PaymentRefunded'>
  | { type: 'StockReserved' }
  | { type: 'StockUnavailable'; skus: string[] }
  | { type: 'DeadlinePassed' };

export type OrderSagaCommand =
  | { kind: 'reserveStock'; orderId: string; items: { sku: string; quantity: number }[] }
  | { kind: 'releaseStock'; orderId: string; compensation: true }
  | { kind: 'sellStock'; orderId: string }
  | {
      kind: 'updateOrder';
      orderId: string;
      status: 'AWAITING_PAYMENT' | 'CONFIRMED' | 'CANCELLED' | 'NEEDS_ATTENTION';
      cancelReason?: CancelReason;
    }
  | { kind: 'emit'; event: DomainEvent };

export interface OrderSagaOptions {
  /** How long to wait for the payment's outcome before giving up on it. */
  paymentTimeoutMs: number;
  /** How long to wait for a refund (or void) to be confirmed before asking again. */
  refundTimeoutMs: number;
  /** Refund requests before the saga is parked in NEEDS_ATTENTION. */
  maxRefundRequests: number;
}

export type OrderSaga = SagaDefinition<OrderSagaState, OrderSagaInput, OrderSagaCommand>;
type OrderOutcome = Outcome<OrderSagaState, OrderSagaCommand>;

export const paymentIdOf = (orderId: string) => `pay_${orderId}`;

/**
 * The order saga (README, "The order saga"):
 *
 *   OrderPlaced      -> reserve stock -> request payment                 -> AWAITING_PAYMENT
 *                       out of stock  -> cancel                          -> CANCELLED
 *   PaymentSucceeded -> sell stock, confirm                              -> CONFIRMED
 *   PaymentFailed    -> release stock, cancel                            -> CANCELLED
 *   deadline passed  -> request refund (void), release stock, cancel     -> CANCELLED
 *   late PaymentSucceeded after cancellation -> request refund
 *   refund not confirmed after maxRefundRequests deadlines               -> NEEDS_ATTENTION
 *   that refund confirmed after all                                      -> CANCELLED
 *
 * Compensations run in reverse order of the steps they undo: the payment first, then stock.
 */
export function createOrderSaga(options: OrderSagaOptions): OrderSaga {
  return {
    type: 'order',
    transitions: {
      [NEW]: ['RESERVING_STOCK'],
      RESERVING_STOCK: ['AWAITING_PAYMENT', 'CANCELLED'],
      AWAITING_PAYMENT: ['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'],
      CANCELLED: ['NEEDS_ATTENTION'],
      CONFIRMED: [],
      // Settled once nothing is owed and its refund (if any) is confirmed.
      NEEDS_ATTENTION: ['CANCELLED'],
    },
    decide: (state, input, context) => decide(options, state, input, context),
    deadlinePassed: { type: 'DeadlinePassed' },
    park: (state, failed) => ({
      state: {
        ...state,
        status: 'NEEDS_ATTENTION',
        owed: [...(state.owed ?? []), ...failed.filter(isCompensation)],
      },
      commands: [
        {
          kind: 'updateOrder',
          orderId: state.orderId,
          status: 'NEEDS_ATTENTION',
          ...(state.cancelReason ? { cancelReason: state.cancelReason } : {}),
        },
      ],
    }),
  };
}

function isCompensation(command: OrderSagaCommand): command is OwedCompensation {
  return 'compensation' in command && command.compensation === true;
}

/** A parked saga is settled when it owes nothing and no refund is left unconfirmed. */
function settled(state: OrderSagaState): boolean {
  return (state.owed ?? []).length === 0 && (!state.refund || state.refund.done);
}

function decide(
  options: OrderSagaOptions,
  state: OrderSagaState | undefined,
  input: OrderSagaInput,
  context: DecideContext,
): OrderOutcome {
  if (!state) {
    if (input.type !== 'OrderPlaced') {
      return { kind: 'retry-later', reason: `${input.type} before its OrderPlaced` };
    }
    const { orderId, customerId, currency, totalMinor, items } = input.data;
    if (!items) {
      return {
        kind: 'reject',
        reason: `OrderPlaced of order ${orderId} has no items (a v1 producer that does not send its lines): this saga cannot reserve stock or charge for it; replay it with its items (pnpm dlq replay <id> --data fixed.json)`,
      };
    }
    const placed: OrderSagaState = {
      status: 'RESERVING_STOCK',
      orderId,
      customerId,
      currency,
      totalMinor,
      items: items.map(({ sku, quantity }) => ({ sku, quantity })),
      correlationId: input.correlationId,
      paymentId: paymentIdOf(orderId),
    };
    return decision(placed, [{ kind: 'reserveStock', orderId, items: placed.items }], null);
  }

  const emit = <T extends EventType>(type: T, data: EventData<T>): OrderSagaCommand => ({
    kind: 'emit',
    event: createEvent(type, data, {
      source: 'process-order',
      correlationId: state.correlationId,
      causationId: context.causationId,
      occurredAt: context.now,
    }) as DomainEvent,
  });
  const { orderId, paymentId, currency } = state;
  const cancel = (reason: CancelReason, detail?: string): OrderSagaCommand[] => [
    { kind: 'updateOrder', orderId, status: 'CANCELLED', cancelReason: reason },
    emit('OrderCancelled', { orderId, reason, ...(detail ? { detail } : {}) }),
  ];
  const requestRefund = (reason: EventData<'RefundRequested'>['reason']) =>
    emit('RefundRequested', {
      orderId,
      paymentId,
      amountMinor: state.totalMinor,
      currency,
      reason,
    });
  const refundDeadline = () => new Date(context.now.getTime() + options.refundTimeoutMs);

  switch (input.type) {
    case 'OrderPlaced':
      return { kind: 'ignore', note: 'order already placed' };

    case 'StockReserved':
      if (state.status !== 'RESERVING_STOCK')
        return { kind: 'ignore', note: 'stock already settled' };
      return decision(
        { ...state, status: 'AWAITING_PAYMENT' },
        [
          { kind: 'updateOrder', orderId, status: 'AWAITING_PAYMENT' },
          emit('PaymentRequested', {
            orderId,
            paymentId,
            customerId: state.customerId,
            amountMinor: state.totalMinor,
            currency,
          }),
        ],
        new Date(context.now.getTime() + options.paymentTimeoutMs),
      );

    case 'StockUnavailable':
      if (state.status !== 'RESERVING_STOCK')
        return { kind: 'ignore', note: 'stock already settled' };
      return decision(
        { ...state, status: 'CANCELLED', cancelReason: 'out_of_stock' },
        cancel('out_of_stock', shortStockDetail(input.skus)),
        null,
      );

    case 'PaymentSucceeded':
      if (state.status === 'AWAITING_PAYMENT') {
        return decision(
          { ...state, status: 'CONFIRMED' },
          [
            { kind: 'sellStock', orderId },
            { kind: 'updateOrder', orderId, status: 'CONFIRMED' },
            emit('OrderConfirmed', { orderId, totalMinor: state.totalMinor, currency }),
          ],
          null,
        );
      }
      if (state.status === 'CONFIRMED') return { kind: 'ignore', note: 'already confirmed' };
      if (state.refund) return { kind: 'ignore', note: 'refund already requested' };
      // Never keep money for an order that is not confirmed.
      return decision(
        { ...state, refund: { reason: 'late_payment', requests: 1, done: false } },
        [requestRefund('late_payment')],
        refundDeadline(),
        'payment arrived after cancellation: refund requested',
      );

    case 'PaymentFailed':
      if (state.status === 'AWAITING_PAYMENT') {
        return decision(
          { ...state, status: 'CANCELLED', cancelReason: 'payment_declined' },
          [
            { kind: 'releaseStock', orderId, compensation: true },
            ...cancel('payment_declined', input.data.reason),
          ],
          null,
        );
      }
      if (state.status === 'CONFIRMED') {
        return {
          kind: 'reject',
          reason: `PaymentFailed (${input.data.reason}) for a confirmed order`,
        };
      }
      return { kind: 'ignore', note: `payment failed (${input.data.reason}) after cancellation` };

    case 'PaymentRefunded':
      if (state.status === 'AWAITING_PAYMENT' || state.status === 'CONFIRMED' || !state.refund) {
        return {
          kind: 'reject',
          reason: `PaymentRefunded for a ${state.status} order that asked for no refund`,
        };
      }
      if (state.refund.done) return { kind: 'ignore', note: 'refund already confirmed' };
      {
        const paidBack = input.data.kind === 'void' ? 'voided' : 'refunded';
        const confirmed = { ...state, refund: { ...state.refund, done: true } };
        if (state.status === 'NEEDS_ATTENTION' && settled(confirmed)) {
          // The confirmation came after all: nothing is left for an operator to do.
          return decision(
            { ...confirmed, status: 'CANCELLED' },
            [
              {
                kind: 'updateOrder',
                orderId,
                status: 'CANCELLED',
                ...(state.cancelReason ? { cancelReason: state.cancelReason } : {}),
              },
            ],
            null,
            `payment ${paidBack} after the saga was parked: cancelled`,
          );
        }
        return decision(confirmed, [], null, `payment ${paidBack}`);
      }

    case 'DeadlinePassed':
      if (state.status === 'AWAITING_PAYMENT') {
        // Undo in reverse: the payment step (void it, or refund it if it was charged), then stock.
        return decision(
          {
            ...state,
            status: 'CANCELLED',
            cancelReason: 'payment_timeout',
            refund: { reason: 'payment_timeout', requests: 1, done: false },
          },
          [
            requestRefund('payment_timeout'),
            { kind: 'releaseStock', orderId, compensation: true },
            ...cancel('payment_timeout'),
          ],
          refundDeadline(),
        );
      }
      if (
        state.refund &&
        !state.refund.done &&
        (state.status === 'CANCELLED' || state.status === 'NEEDS_ATTENTION')
      ) {
        if (state.refund.requests >= options.maxRefundRequests) {
          // Parked: a confirmation may still come and settle it (see PaymentRefunded).
          return decision(
            { ...state, status: 'NEEDS_ATTENTION' },
            state.status === 'NEEDS_ATTENTION'
              ? []
              : [
                  {
                    kind: 'updateOrder',
                    orderId,
                    status: 'NEEDS_ATTENTION',
                    ...(state.cancelReason ? { cancelReason: state.cancelReason } : {}),
                  },
                ],
            null,
            `refund not confirmed after ${state.refund.requests} requests`,
          );
        }
        return decision(
          { ...state, refund: { ...state.refund, requests: state.refund.requests + 1 } },
          [requestRefund(state.refund.reason)],
          refundDeadline(),
          'refund not confirmed yet: asked again',
        );
      }
      return { kind: 'ignore', note: 'deadline no longer relevant' };
  }
}

/** OrderCancelled.detail holds at most 500 characters: name the skus that fit, count the rest. */
const maxDetailLength = 500;

function shortStockDetail(skus: readonly string[]): string {
  const prefix = 'not enough stock of ';
  let named = skus.length;
  const detail = (count: number) => {
    const rest = skus.length - count;
    return `${prefix}${skus.slice(0, count).join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
  };
  while (named > 1 && detail(named).length > maxDetailLength) named--;
  return detail(named).slice(0, maxDetailLength);
}
