import { describe, expect, it } from '@jest/globals';
import { createEvent, type DomainEvent, type EventData, type EventType } from '@orders/events';
import {
  createOrderSaga,
  type OrderSagaCommand,
  type OrderSagaInput,
  type OrderSagaState,
  paymentIdOf,
} from './order-saga';
import { isLegalTransition, NEW, type Outcome } from './saga';

const saga = createOrderSaga({
  paymentTimeoutMs: 60_000,
  refundTimeoutMs: 30_000,
  maxRefundRequests: 3,
});
const orderId = '3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const correlationId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const paymentId = paymentIdOf(orderId);
const now = new Date('2026-11-28T10:00:00.000Z');

function event<T extends EventType>(type: T, data: Omit<EventData<T>, 'orderId'>): DomainEvent<T> {
  return createEvent(type, { orderId, ...data } as EventData<T>, { source: 'test', correlationId });
}
const placed = event('OrderPlaced', {
  customerId: 'cust-1',
  currency: 'EUR',
  items: [{ sku: 'TEA-001', quantity: 2, unitPriceMinor: 1299 }],
  totalMinor: 2598,
});
const succeeded = event('PaymentSucceeded', {
  paymentId,
  providerRef: 'ch_1',
  amountMinor: 2598,
  currency: 'EUR',
});
const declined = event('PaymentFailed', { paymentId, reason: 'declined' });
const refunded = event('PaymentRefunded', {
  paymentId,
  refundId: 're_1',
  kind: 'refund',
  amountMinor: 2598,
  currency: 'EUR',
});
const deadline: OrderSagaInput = { type: 'DeadlinePassed' };
const release = { kind: 'releaseStock', orderId, compensation: true } as const;
const reserved: OrderSagaInput = { type: 'StockReserved' };

/** Given these inputs applied in order (each must be a decision), when `input`, then the outcome. */
function given(...history: OrderSagaInput[]) {
  let state: OrderSagaState | undefined;
  for (const input of history) {
    const outcome = saga.decide(state, input, { now, causationId: null });
    if (outcome.kind !== 'decision') throw new Error(`given ${input.type}: ${outcome.kind}`);
    expect(isLegalTransition(saga.transitions, state?.status ?? NEW, outcome.state.status)).toBe(
      true,
    );
    state = outcome.state;
  }
  return {
    when: (input: OrderSagaInput) => {
      const outcome = saga.decide(state, input, { now, causationId: 'cause-1' });
      if (outcome.kind === 'decision') {
        expect(
          isLegalTransition(saga.transitions, state?.status ?? NEW, outcome.state.status),
        ).toBe(true);
      }
      return outcome;
    },
  };
}

/** Commands without the generated parts of emitted events, for comparison. */
function commandsOf(outcome: Outcome<OrderSagaState, OrderSagaCommand>) {
  if (outcome.kind !== 'decision') throw new Error(`expected a decision, got ${outcome.kind}`);
  return outcome.commands.map((command) =>
    command.kind === 'emit' ? { emit: command.event.type, data: command.event.data } : command,
  );
}

function decided(outcome: Outcome<OrderSagaState, OrderSagaCommand>) {
  if (outcome.kind !== 'decision') throw new Error(`expected a decision, got ${outcome.kind}`);
  return outcome;
}

describe('order saga', () => {
  it('reserves stock when an order is placed', () => {
    const outcome = given().when(placed);
    expect(decided(outcome).state).toMatchObject({
      status: 'RESERVING_STOCK',
      paymentId,
      totalMinor: 2598,
    });
    expect(commandsOf(outcome)).toEqual([
      { kind: 'reserveStock', orderId, items: [{ sku: 'TEA-001', quantity: 2 }] },
    ]);
  });

  it('requests payment once stock is reserved, with a deadline', () => {
    const outcome = given(placed).when(reserved);
    expect(decided(outcome)).toMatchObject({
      state: { status: 'AWAITING_PAYMENT' },
      deadlineAt: new Date(now.getTime() + 60_000),
    });
    expect(commandsOf(outcome)).toEqual([
      { kind: 'updateOrder', orderId, status: 'AWAITING_PAYMENT' },
      {
        emit: 'PaymentRequested',
        data: { orderId, paymentId, customerId: 'cust-1', amountMinor: 2598, currency: 'EUR' },
      },
    ]);
  });

  it('cancels when stock is short', () => {
    const outcome = given(placed).when({ type: 'StockUnavailable', skus: ['TEA-001'] });
    expect(decided(outcome).state).toMatchObject({
      status: 'CANCELLED',
      cancelReason: 'out_of_stock',
    });
    expect(commandsOf(outcome)).toEqual([
      { kind: 'updateOrder', orderId, status: 'CANCELLED', cancelReason: 'out_of_stock' },
      {
        emit: 'OrderCancelled',
        data: { orderId, reason: 'out_of_stock', detail: 'not enough stock of TEA-001' },
      },
    ]);
  });

  it('rejects an order without items: it cannot reserve stock or charge for lines it does not know', () => {
    const { items: _unknown, ...withoutItems } = placed.data;
    const placedByV1Producer: OrderSagaInput = { ...placed, data: withoutItems };
    expect(given().when(placedByV1Producer)).toEqual({
      kind: 'reject',
      reason: `OrderPlaced of order ${orderId} has no items (a v1 producer that does not send its lines): this saga cannot reserve stock or charge for it; replay it with its items (pnpm dlq replay <id> --data fixed.json)`,
    });
  });

  it('confirms on payment: sells the stock, then confirms', () => {
    const outcome = given(placed, reserved).when(succeeded);
    expect(decided(outcome)).toMatchObject({ state: { status: 'CONFIRMED' }, deadlineAt: null });
    expect(commandsOf(outcome)).toEqual([
      { kind: 'sellStock', orderId },
      { kind: 'updateOrder', orderId, status: 'CONFIRMED' },
      { emit: 'OrderConfirmed', data: { orderId, totalMinor: 2598, currency: 'EUR' } },
    ]);
  });

  it('releases stock and cancels on a declined payment', () => {
    const outcome = given(placed, reserved).when(declined);
    expect(decided(outcome).state).toMatchObject({
      status: 'CANCELLED',
      cancelReason: 'payment_declined',
    });
    expect(commandsOf(outcome)).toEqual([
      { kind: 'releaseStock', orderId, compensation: true },
      { kind: 'updateOrder', orderId, status: 'CANCELLED', cancelReason: 'payment_declined' },
      { emit: 'OrderCancelled', data: { orderId, reason: 'payment_declined', detail: 'declined' } },
    ]);
  });

  it('on its deadline, compensates in reverse: voids the payment, releases stock, cancels', () => {
    const outcome = given(placed, reserved).when(deadline);
    expect(decided(outcome)).toMatchObject({
      state: {
        status: 'CANCELLED',
        cancelReason: 'payment_timeout',
        refund: { requests: 1, done: false },
      },
      deadlineAt: new Date(now.getTime() + 30_000),
    });
    expect(commandsOf(outcome)).toEqual([
      {
        emit: 'RefundRequested',
        data: { orderId, paymentId, amountMinor: 2598, currency: 'EUR', reason: 'payment_timeout' },
      },
      { kind: 'releaseStock', orderId, compensation: true },
      { kind: 'updateOrder', orderId, status: 'CANCELLED', cancelReason: 'payment_timeout' },
      { emit: 'OrderCancelled', data: { orderId, reason: 'payment_timeout' } },
    ]);
  });

  it('refunds a payment that succeeds after a decline-cancellation', () => {
    const outcome = given(placed, reserved, declined).when(succeeded);
    expect(decided(outcome).state.refund).toEqual({
      reason: 'late_payment',
      requests: 1,
      done: false,
    });
    expect(commandsOf(outcome)).toEqual([
      {
        emit: 'RefundRequested',
        data: { orderId, paymentId, amountMinor: 2598, currency: 'EUR', reason: 'late_payment' },
      },
    ]);
  });

  it('does not ask twice when the payment succeeds after its timeout already asked for a refund', () => {
    expect(given(placed, reserved, deadline).when(succeeded)).toEqual({
      kind: 'ignore',
      note: 'refund already requested',
    });
  });

  it('records the refund, and stops waiting for it', () => {
    const outcome = given(placed, reserved, deadline).when(refunded);
    expect(decided(outcome)).toMatchObject({
      state: { status: 'CANCELLED', refund: { done: true } },
      deadlineAt: null,
      commands: [],
    });
  });

  it('asks for the refund again at each deadline, then parks in NEEDS_ATTENTION', () => {
    const again = given(placed, reserved, deadline).when(deadline);
    expect(decided(again).state.refund?.requests).toBe(2);
    expect(commandsOf(again)).toEqual([expect.objectContaining({ emit: 'RefundRequested' })]);

    const parked = given(placed, reserved, deadline, deadline, deadline).when(deadline);
    expect(decided(parked)).toMatchObject({
      state: { status: 'NEEDS_ATTENTION' },
      deadlineAt: null,
      note: 'refund not confirmed after 3 requests',
    });
    expect(commandsOf(parked)).toEqual([
      { kind: 'updateOrder', orderId, status: 'NEEDS_ATTENTION', cancelReason: 'payment_timeout' },
    ]);
  });

  it('settles a saga parked for its refund when the refund is confirmed after all', () => {
    const settled = given(placed, reserved, deadline, deadline, deadline, deadline).when(refunded);
    expect(decided(settled)).toMatchObject({
      state: { status: 'CANCELLED', refund: { done: true } },
      deadlineAt: null,
      note: 'payment refunded after the saga was parked: cancelled',
    });
    expect(commandsOf(settled)).toEqual([
      { kind: 'updateOrder', orderId, status: 'CANCELLED', cancelReason: 'payment_timeout' },
    ]);
    expect(
      given(placed, reserved, deadline, deadline, deadline, deadline, refunded).when(refunded).kind,
    ).toBe('ignore');
  });

  it('keeps a saga parked by a failing compensation parked, and records its refund', () => {
    // Its stock release kept failing after the timeout: the refund alone does not settle it.
    const cancelled = decided(given(placed, reserved).when(deadline)).state;
    const parked = saga.park(cancelled, [release]).state;
    const outcome = decided(saga.decide(parked, refunded, { now, causationId: null }));
    expect(outcome.state).toMatchObject({
      status: 'NEEDS_ATTENTION',
      refund: { done: true },
      owed: [release],
    });
    expect(outcome.commands).toEqual([]);
  });

  it('still chases the refund of a saga parked by a failing compensation, then parks it for good', () => {
    const cancelled = decided(given(placed, reserved).when(deadline)).state;
    let state = saga.park(cancelled, [release]).state;
    const again = decided(saga.decide(state, deadline, { now, causationId: null }));
    expect(again.state).toMatchObject({ status: 'NEEDS_ATTENTION', refund: { requests: 2 } });
    expect(commandsOf(again)).toEqual([expect.objectContaining({ emit: 'RefundRequested' })]);
    state = decided(saga.decide(again.state, deadline, { now, causationId: null })).state;
    const last = decided(saga.decide(state, deadline, { now, causationId: null }));
    expect(last).toMatchObject({
      state: { status: 'NEEDS_ATTENTION' },
      commands: [],
      deadlineAt: null,
      note: 'refund not confirmed after 3 requests',
    });
  });

  it('treats duplicates and late news as normal inputs', () => {
    expect(given(placed).when(placed).kind).toBe('ignore');
    expect(given(placed, reserved).when(reserved).kind).toBe('ignore');
    expect(given(placed, reserved, succeeded).when(succeeded).kind).toBe('ignore');
    expect(given(placed, reserved, succeeded).when(deadline).kind).toBe('ignore');
    expect(given(placed, reserved, declined).when(declined).kind).toBe('ignore');
    expect(given(placed, { type: 'StockUnavailable', skus: ['X'] }).when(deadline).kind).toBe(
      'ignore',
    );
  });

  it('asks for redelivery of a payment event that arrives before its order', () => {
    expect(given().when(succeeded)).toEqual({
      kind: 'retry-later',
      reason: 'PaymentSucceeded before its OrderPlaced',
    });
  });

  it('rejects what cannot happen: a failure or a refund after confirmation', () => {
    expect(given(placed, reserved, succeeded).when(declined).kind).toBe('reject');
    expect(given(placed, reserved, succeeded).when(refunded).kind).toBe('reject');
  });

  it('parks in NEEDS_ATTENTION, visibly, owing the compensation that keeps failing', () => {
    const before = decided(given(placed).when(reserved)).state;
    const state = decided(given(placed, reserved).when(declined)).state;
    expect(saga.park(state, [release])).toEqual({
      state: { ...state, status: 'NEEDS_ATTENTION', owed: [release] },
      commands: [
        {
          kind: 'updateOrder',
          orderId,
          status: 'NEEDS_ATTENTION',
          cancelReason: 'payment_declined',
        },
      ],
    });
    expect(isLegalTransition(saga.transitions, before.status, 'NEEDS_ATTENTION')).toBe(true);
  });

  it('carries the correlation id and cites the cause in every event it emits', () => {
    const outcome = decided(given(placed).when(reserved));
    const emitted = outcome.commands.flatMap((command) =>
      command.kind === 'emit' ? [command.event] : [],
    );
    expect(emitted).toEqual([
      expect.objectContaining({
        correlationId,
        causationId: 'cause-1',
        source: 'process-order',
        subject: orderId,
        occurredAt: now.toISOString(),
      }),
    ]);
  });
});
