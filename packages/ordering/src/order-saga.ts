import { type DomainEvent, type EventData, type EventType, paymentIdOf } from '@orders/events';
import {
  type DecideContext,
  type Decision,
  decision,
  type EventDraft,
  NEW,
  type Outcome,
  type SagaDefinition,
} from '@orders/saga-engine';
import { z } from 'zod';

export const orderSagaStatuses = [
  'RESERVING_STOCK',
  'AWAITING_PAYMENT',
  'CANCELLED',
  'CONFIRMED',
  'NEEDS_ATTENTION',
] as const;
export type OrderSagaStatus = (typeof orderSagaStatuses)[number];

/** What `orders.status` says while the saga is in each status (the one mapping between them). */
export const orderStatusOf = {
  RESERVING_STOCK: 'PLACED',
  AWAITING_PAYMENT: 'AWAITING_PAYMENT',
  CONFIRMED: 'CONFIRMED',
  CANCELLED: 'CANCELLED',
  NEEDS_ATTENTION: 'NEEDS_ATTENTION',
} as const satisfies Record<OrderSagaStatus, string>;
export type OrderStatus = (typeof orderStatusOf)[OrderSagaStatus];

type CancelReason = EventData<'OrderCancelled'>['reason'];
type RefundReason = EventData<'RefundRequested'>['reason'];
/** The reasons the catalog's events carry, as the state saves them. */
const cancelReasons = [
  'out_of_stock',
  'payment_declined',
  'payment_timeout',
] as const satisfies readonly CancelReason[];
const refundReasons = [
  'payment_timeout',
  'late_payment',
] as const satisfies readonly RefundReason[];

const itemSchema = z.strictObject({ sku: z.string(), quantity: z.int().positive() });

/**
 * The order saga's state as saved (`sagas.state`), parsed when loaded. Changing its shape
 * means a new `version` of the definition, with an upgrade from the old one.
 */
const orderSagaStateSchema = z.strictObject({
  status: z.enum(orderSagaStatuses),
  orderId: z.uuid(),
  customerId: z.string(),
  currency: z.string().length(3),
  totalMinor: z.int().nonnegative(),
  items: z.array(itemSchema).min(1),
  correlationId: z.uuid(),
  /** Derived from the order, so that a retried request can never charge twice. */
  paymentId: z.string(),
  cancelReason: z.enum(cancelReasons).optional(),
  /** The compensation of the payment step, once asked for. */
  refund: z
    .strictObject({
      reason: z.enum(refundReasons),
      requests: z.int().positive(),
      done: z.boolean(),
    })
    .optional(),
  /**
   * Compensations that kept failing when the saga was parked: what it still owes (stock to
   * put back). Everything else its decision asked for was carried out.
   */
  owed: z
    .array(
      z.strictObject({
        // Version 1 wrote `releaseStock`, and an instance of it may still park a saga during
        // a rolling deploy: both spellings read as the intent.
        kind: z.enum(['ReleaseStock', 'releaseStock']).transform(() => 'ReleaseStock' as const),
        orderId: z.uuid(),
        compensation: z.literal(true),
      }),
    )
    .optional(),
  /**
   * Payment outcomes set aside (version 3): news of another payment than the one this saga
   * asked for (its id, amount or currency differ), not acted on and dead-lettered. An
   * operator sees the count in `pnpm sagas list` and each one in the saga's history.
   */
  setAside: z.int().positive().optional(),
});

export type OrderSagaState = z.output<typeof orderSagaStateSchema>;

/** What wakes the saga: its events, the answer to its stock question, and its deadline. */
export type OrderSagaInput =
  | DomainEvent<'OrderPlaced' | 'PaymentSucceeded' | 'PaymentFailed' | 'PaymentRefunded'>
  | { type: 'StockReserved' }
  | { type: 'StockUnavailable'; skus: string[] }
  | { type: 'DeadlinePassed' }
  /** An operator resumes a parked saga (`pnpm sagas retry`): what it owes is tried again. */
  | { type: 'RetryRequested' };

/** The effects on the world the order saga intends; the order store carries them out. */
export type OrderSagaIntent =
  | { kind: 'ReleaseStock'; orderId: string; compensation: true }
  | { kind: 'SellStock'; orderId: string }
  | {
      kind: 'SetOrderStatus';
      orderId: string;
      status: Exclude<OrderStatus, 'PLACED'>;
      cancelReason?: CancelReason;
    };

/** The one question the saga asks the world: can the stock be reserved? */
export interface ReserveStock {
  kind: 'ReserveStock';
  orderId: string;
  items: { sku: string; quantity: number }[];
}

export interface OrderSagaOptions {
  /** How long to wait for the payment's outcome before giving up on it. */
  paymentTimeoutMs: number;
  /** How long to wait for a refund (or void) to be confirmed before asking again. */
  refundTimeoutMs: number;
  /** Refund requests before the saga is parked in NEEDS_ATTENTION. */
  maxRefundRequests: number;
}

export type OrderSaga = SagaDefinition<
  OrderSagaState,
  OrderSagaInput,
  OrderSagaIntent,
  ReserveStock
>;
type OrderOutcome = Outcome<OrderSagaState, OrderSagaIntent, ReserveStock>;
type PaymentOutcome = DomainEvent<'PaymentSucceeded' | 'PaymentFailed' | 'PaymentRefunded'>;
type OrderDecision = Decision<OrderSagaState, OrderSagaIntent, ReserveStock>;

/** The order saga's type, as `sagas.type` records it. */
export const orderSagaType = 'order';

/** The order's status follows the saga's: its intent, with the reason of a cancellation. */
function setOrderStatus(state: OrderSagaState): OrderSagaIntent {
  return {
    kind: 'SetOrderStatus',
    orderId: state.orderId,
    status: orderStatusOf[state.status] as Exclude<OrderStatus, 'PLACED'>,
    ...(state.cancelReason ? { cancelReason: state.cancelReason } : {}),
  };
}

/**
 * The order saga (docs/architecture.md, "The order saga"):
 *
 *   OrderPlaced      -> reserve stock -> request payment                 -> AWAITING_PAYMENT
 *                       out of stock  -> cancel                          -> CANCELLED
 *   PaymentSucceeded -> sell stock, confirm                              -> CONFIRMED
 *   PaymentFailed    -> release stock, cancel                            -> CANCELLED
 *   deadline passed  -> request refund (void), release stock, cancel     -> CANCELLED
 *   late PaymentSucceeded after cancellation -> request refund
 *   refund not confirmed after maxRefundRequests deadlines               -> NEEDS_ATTENTION
 *   that refund confirmed after all                                      -> CANCELLED
 *   an operator's retry of a parked saga -> release the stock it owes, ask for its
 *                       unconfirmed refund again -> CANCELLED when nothing is left owed
 *
 * Compensations run in reverse order of the steps they undo: the payment first, then stock.
 * A payment outcome that is not about the payment the saga asked for (its id, amount or
 * currency) is set aside: counted in the state, dead-lettered, never acted on.
 * Version 3 counts those (`setAside`); version 2 named intents in PascalCase; version 1 saved
 * what a parked saga owes as `releaseStock`, which the state schema still reads.
 * The operator's `RetryRequested` came within version 3: the state's shape is the same and
 * every other input decides as before, so a saga it moved is one any version 3 deployment
 * reads and decides as its own (a bump would only make them refuse it during a deploy).
 */
export function createOrderSaga(options: OrderSagaOptions): OrderSaga {
  return {
    type: orderSagaType,
    version: 3,
    parseState: (saved) => orderSagaStateSchema.parse(saved),
    // Versions 1 and 2 saved the same shape without `setAside` (version 1 spelled what a
    // parked saga owes `releaseStock`).
    upgrade: (saved, fromVersion) => {
      if (fromVersion !== 1 && fromVersion !== 2) {
        throw new Error(`no upgrade from version ${fromVersion}`);
      }
      return orderSagaStateSchema.parse(saved);
    },
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
    park: (state, failed) => {
      const parked: OrderSagaState = {
        ...state,
        status: 'NEEDS_ATTENTION',
        owed: [
          ...(state.owed ?? []),
          ...failed.flatMap((intent) => (intent.kind === 'ReleaseStock' ? [intent] : [])),
        ],
      };
      return { state: parked, intents: [setOrderStatus(parked)], events: [] };
    },
  };
}

/**
 * How a payment outcome differs from the payment the saga asked for (its id, amount and
 * currency: a void pays back nothing), or undefined when it is that payment's.
 */
function foreignPayment(state: OrderSagaState, input: PaymentOutcome): string | undefined {
  const differences: string[] = [];
  const { data } = input;
  if (data.paymentId !== state.paymentId) {
    // Quoted: it is the sender's text (the note is printed and stored).
    differences.push(`payment id ${JSON.stringify(data.paymentId)} (asked for ${state.paymentId})`);
  }
  if (input.type !== 'PaymentFailed') {
    const { amountMinor, currency } = input.data;
    const expected =
      input.type === 'PaymentRefunded' && input.data.kind === 'void' ? 0 : state.totalMinor;
    if (amountMinor !== expected) differences.push(`amount ${amountMinor} (asked for ${expected})`);
    if (currency !== state.currency) {
      differences.push(`currency ${currency} (asked for ${state.currency})`);
    }
  }
  if (differences.length === 0) return undefined;
  return `${input.type} of order ${state.orderId} is not about the payment its saga asked for: ${differences.join(', ')}`;
}

/** A parked saga is settled when it owes nothing and no refund is left unconfirmed. */
function settled(state: OrderSagaState): boolean {
  return (state.owed ?? []).length === 0 && (!state.refund || state.refund.done);
}

function decide(
  options: OrderSagaOptions,
  state: OrderSagaState | undefined,
  input: OrderSagaInput,
  { now }: DecideContext,
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
    return decision(placed, { ask: { kind: 'ReserveStock', orderId, items: placed.items } });
  }

  if (
    input.type === 'PaymentSucceeded' ||
    input.type === 'PaymentFailed' ||
    input.type === 'PaymentRefunded'
  ) {
    // Believed only about the payment the saga asked for, whatever the saga's status.
    const reason = foreignPayment(state, input);
    if (reason !== undefined) {
      return {
        kind: 'set-aside',
        state: { ...state, setAside: (state.setAside ?? 0) + 1 },
        reason,
      };
    }
  }

  const { orderId, paymentId, currency } = state;
  const event = <T extends EventType>(type: T, data: EventData<T>) =>
    ({ type, data }) as EventDraft;
  /** Moves to `next`, the order's status with it. */
  const move = (
    next: OrderSagaState,
    parts: {
      intents?: OrderSagaIntent[];
      events?: EventDraft[];
      deadlineAt?: Date | null;
      note?: string;
    } = {},
  ): OrderDecision =>
    decision(next, {
      ...parts,
      intents: [
        ...(parts.intents ?? []),
        ...(orderStatusOf[next.status] === orderStatusOf[state.status]
          ? []
          : [setOrderStatus(next)]),
      ],
    });
  const cancelled = (reason: CancelReason, detail?: string) =>
    event('OrderCancelled', { orderId, reason, ...(detail ? { detail } : {}) });
  const refundRequest = (reason: RefundReason) =>
    event('RefundRequested', {
      orderId,
      paymentId,
      amountMinor: state.totalMinor,
      currency,
      reason,
    });
  const refundDeadline = () => new Date(now.getTime() + options.refundTimeoutMs);

  switch (input.type) {
    case 'OrderPlaced':
      return { kind: 'ignore', note: 'order already placed' };

    case 'StockReserved':
      if (state.status !== 'RESERVING_STOCK')
        return { kind: 'ignore', note: 'stock already settled' };
      return move(
        { ...state, status: 'AWAITING_PAYMENT' },
        {
          events: [
            event('PaymentRequested', {
              orderId,
              paymentId,
              customerId: state.customerId,
              amountMinor: state.totalMinor,
              currency,
            }),
          ],
          deadlineAt: new Date(now.getTime() + options.paymentTimeoutMs),
        },
      );

    case 'StockUnavailable':
      if (state.status !== 'RESERVING_STOCK')
        return { kind: 'ignore', note: 'stock already settled' };
      return move(
        { ...state, status: 'CANCELLED', cancelReason: 'out_of_stock' },
        { events: [cancelled('out_of_stock', shortStockDetail(input.skus))] },
      );

    case 'PaymentSucceeded':
      if (state.status === 'AWAITING_PAYMENT') {
        return move(
          { ...state, status: 'CONFIRMED' },
          {
            intents: [{ kind: 'SellStock', orderId }],
            events: [event('OrderConfirmed', { orderId, totalMinor: state.totalMinor, currency })],
          },
        );
      }
      if (state.status === 'CONFIRMED') return { kind: 'ignore', note: 'already confirmed' };
      if (state.refund) return { kind: 'ignore', note: 'refund already requested' };
      // Never keep money for an order that is not confirmed.
      return move(
        { ...state, refund: { reason: 'late_payment', requests: 1, done: false } },
        {
          events: [refundRequest('late_payment')],
          deadlineAt: refundDeadline(),
          note: 'payment arrived after cancellation: refund requested',
        },
      );

    case 'PaymentFailed':
      if (state.status === 'AWAITING_PAYMENT') {
        return move(
          { ...state, status: 'CANCELLED', cancelReason: 'payment_declined' },
          {
            intents: [{ kind: 'ReleaseStock', orderId, compensation: true }],
            events: [cancelled('payment_declined', input.data.reason)],
          },
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
          return move(
            { ...confirmed, status: 'CANCELLED' },
            { note: `payment ${paidBack} after the saga was parked: cancelled` },
          );
        }
        return move(confirmed, { note: `payment ${paidBack}` });
      }

    case 'DeadlinePassed':
      if (state.status === 'AWAITING_PAYMENT') {
        // Undo in reverse: the payment step (void it, or refund it if it was charged), then stock.
        return move(
          {
            ...state,
            status: 'CANCELLED',
            cancelReason: 'payment_timeout',
            refund: { reason: 'payment_timeout', requests: 1, done: false },
          },
          {
            intents: [{ kind: 'ReleaseStock', orderId, compensation: true }],
            events: [refundRequest('payment_timeout'), cancelled('payment_timeout')],
            deadlineAt: refundDeadline(),
          },
        );
      }
      if (
        state.refund &&
        !state.refund.done &&
        (state.status === 'CANCELLED' || state.status === 'NEEDS_ATTENTION')
      ) {
        if (state.refund.requests >= options.maxRefundRequests) {
          // Parked: a confirmation may still come and settle it (see PaymentRefunded).
          return move(
            { ...state, status: 'NEEDS_ATTENTION' },
            { note: `refund not confirmed after ${state.refund.requests} requests` },
          );
        }
        return move(
          { ...state, refund: { ...state.refund, requests: state.refund.requests + 1 } },
          {
            events: [refundRequest(state.refund.reason)],
            deadlineAt: refundDeadline(),
            note: 'refund not confirmed yet: asked again',
          },
        );
      }
      return { kind: 'ignore', note: 'deadline no longer relevant' };

    case 'RetryRequested': {
      if (state.status !== 'NEEDS_ATTENTION') {
        return { kind: 'ignore', note: `not parked (${state.status}): nothing to retry` };
      }
      // What it owes, tried again: the stock release (a compensation: a failure parks the
      // saga again, owing it) and the refund no one confirmed (asked once more).
      const { owed = [], ...rest } = state;
      const refund =
        state.refund && !state.refund.done
          ? { ...state.refund, requests: state.refund.requests + 1 }
          : undefined;
      const resumed: OrderSagaState = { ...rest, ...(refund ? { refund } : {}) };
      const done = [
        ...(owed.length > 0 ? ['stock released'] : []),
        ...(refund ? [`refund asked again (request ${refund.requests})`] : []),
      ];
      return move(settled(resumed) ? { ...resumed, status: 'CANCELLED' } : resumed, {
        intents: owed,
        events: refund ? [refundRequest(refund.reason)] : [],
        deadlineAt: refund ? refundDeadline() : null,
        note: `retried by an operator: ${done.length > 0 ? done.join(', ') : 'nothing was owed'}`,
      });
    }
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
