import { describe, expect, it } from '@jest/globals';
import {
  createEvent,
  type DomainEvent,
  type EventData,
  type EventType,
  paymentIdOf,
} from '@orders/events';
import { isLegalTransition, NEW, type Outcome } from '@orders/saga-engine';
import {
  createOrderSaga,
  type OrderSagaInput,
  type OrderSagaIntent,
  type OrderSagaState,
  type ReserveStock,
} from './order-saga';

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
const release = { kind: 'ReleaseStock', orderId, compensation: true } as const;
const reserved: OrderSagaInput = { type: 'StockReserved' };

type OrderOutcome = Outcome<OrderSagaState, OrderSagaIntent, ReserveStock>;

/** Given these inputs applied in order (each must be a decision), when `input`, then the outcome. */
function given(...history: OrderSagaInput[]) {
  let state: OrderSagaState | undefined;
  for (const input of history) {
    const outcome = saga.decide(state, input, { now });
    if (outcome.kind !== 'decision') throw new Error(`given ${input.type}: ${outcome.kind}`);
    expect(isLegalTransition(saga.transitions, state?.status ?? NEW, outcome.state.status)).toBe(
      true,
    );
    state = outcome.state;
  }
  return {
    when: (input: OrderSagaInput) => {
      const outcome = saga.decide(state, input, { now });
      if (outcome.kind === 'decision') {
        expect(
          isLegalTransition(saga.transitions, state?.status ?? NEW, outcome.state.status),
        ).toBe(true);
      }
      return outcome;
    },
  };
}

function decided(outcome: OrderOutcome) {
  if (outcome.kind !== 'decision') throw new Error(`expected a decision, got ${outcome.kind}`);
  return outcome;
}

/** What a decision does to the world: its intents, its events (drafts), its question. */
function effectsOf(outcome: OrderOutcome) {
  const { intents, events, ask } = decided(outcome);
  return { intents, events, ask };
}

describe('order saga', () => {
  it('reserves stock when an order is placed', () => {
    const outcome = given().when(placed);
    expect(decided(outcome).state).toMatchObject({
      status: 'RESERVING_STOCK',
      paymentId,
      totalMinor: 2598,
    });
    expect(effectsOf(outcome)).toEqual({
      intents: [],
      events: [],
      ask: { kind: 'ReserveStock', orderId, items: [{ sku: 'TEA-001', quantity: 2 }] },
    });
  });

  it('requests payment once stock is reserved, with a deadline', () => {
    const outcome = given(placed).when(reserved);
    expect(decided(outcome)).toMatchObject({
      state: { status: 'AWAITING_PAYMENT' },
      deadlineAt: new Date(now.getTime() + 60_000),
    });
    expect(effectsOf(outcome)).toEqual({
      intents: [{ kind: 'SetOrderStatus', orderId, status: 'AWAITING_PAYMENT' }],
      events: [
        {
          type: 'PaymentRequested',
          data: { orderId, paymentId, customerId: 'cust-1', amountMinor: 2598, currency: 'EUR' },
        },
      ],
      ask: undefined,
    });
  });

  it('cancels when stock is short', () => {
    const outcome = given(placed).when({ type: 'StockUnavailable', skus: ['TEA-001'] });
    expect(decided(outcome).state).toMatchObject({
      status: 'CANCELLED',
      cancelReason: 'out_of_stock',
    });
    expect(effectsOf(outcome)).toEqual({
      intents: [
        { kind: 'SetOrderStatus', orderId, status: 'CANCELLED', cancelReason: 'out_of_stock' },
      ],
      events: [
        {
          type: 'OrderCancelled',
          data: { orderId, reason: 'out_of_stock', detail: 'not enough stock of TEA-001' },
        },
      ],
      ask: undefined,
    });
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
    expect(effectsOf(outcome)).toEqual({
      intents: [
        { kind: 'SellStock', orderId },
        { kind: 'SetOrderStatus', orderId, status: 'CONFIRMED' },
      ],
      events: [{ type: 'OrderConfirmed', data: { orderId, totalMinor: 2598, currency: 'EUR' } }],
      ask: undefined,
    });
  });

  it('releases stock and cancels on a declined payment', () => {
    const outcome = given(placed, reserved).when(declined);
    expect(decided(outcome).state).toMatchObject({
      status: 'CANCELLED',
      cancelReason: 'payment_declined',
    });
    expect(effectsOf(outcome)).toEqual({
      intents: [
        release,
        { kind: 'SetOrderStatus', orderId, status: 'CANCELLED', cancelReason: 'payment_declined' },
      ],
      events: [
        {
          type: 'OrderCancelled',
          data: { orderId, reason: 'payment_declined', detail: 'declined' },
        },
      ],
      ask: undefined,
    });
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
    expect(effectsOf(outcome)).toEqual({
      intents: [
        release,
        { kind: 'SetOrderStatus', orderId, status: 'CANCELLED', cancelReason: 'payment_timeout' },
      ],
      // The payment step is undone first (its refund asked for), then the order is cancelled.
      events: [
        {
          type: 'RefundRequested',
          data: {
            orderId,
            paymentId,
            amountMinor: 2598,
            currency: 'EUR',
            reason: 'payment_timeout',
          },
        },
        { type: 'OrderCancelled', data: { orderId, reason: 'payment_timeout' } },
      ],
      ask: undefined,
    });
  });

  it('refunds a payment that succeeds after a decline-cancellation', () => {
    const outcome = given(placed, reserved, declined).when(succeeded);
    expect(decided(outcome).state.refund).toEqual({
      reason: 'late_payment',
      requests: 1,
      done: false,
    });
    expect(effectsOf(outcome)).toEqual({
      intents: [],
      events: [
        {
          type: 'RefundRequested',
          data: { orderId, paymentId, amountMinor: 2598, currency: 'EUR', reason: 'late_payment' },
        },
      ],
      ask: undefined,
    });
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
      intents: [],
      events: [],
    });
  });

  it('asks for the refund again at each deadline, then parks in NEEDS_ATTENTION', () => {
    const again = given(placed, reserved, deadline).when(deadline);
    expect(decided(again).state.refund?.requests).toBe(2);
    expect(effectsOf(again)).toEqual({
      intents: [],
      events: [expect.objectContaining({ type: 'RefundRequested' })],
      ask: undefined,
    });

    const parked = given(placed, reserved, deadline, deadline, deadline).when(deadline);
    expect(decided(parked)).toMatchObject({
      state: { status: 'NEEDS_ATTENTION' },
      deadlineAt: null,
      note: 'refund not confirmed after 3 requests',
    });
    expect(effectsOf(parked)).toEqual({
      intents: [
        {
          kind: 'SetOrderStatus',
          orderId,
          status: 'NEEDS_ATTENTION',
          cancelReason: 'payment_timeout',
        },
      ],
      events: [],
      ask: undefined,
    });
  });

  it('settles a saga parked for its refund when the refund is confirmed after all', () => {
    const settled = given(placed, reserved, deadline, deadline, deadline, deadline).when(refunded);
    expect(decided(settled)).toMatchObject({
      state: { status: 'CANCELLED', refund: { done: true } },
      deadlineAt: null,
      note: 'payment refunded after the saga was parked: cancelled',
    });
    expect(effectsOf(settled)).toEqual({
      intents: [
        { kind: 'SetOrderStatus', orderId, status: 'CANCELLED', cancelReason: 'payment_timeout' },
      ],
      events: [],
      ask: undefined,
    });
    expect(
      given(placed, reserved, deadline, deadline, deadline, deadline, refunded).when(refunded).kind,
    ).toBe('ignore');
  });

  it('keeps a saga parked by a failing compensation parked, and records its refund', () => {
    // Its stock release kept failing after the timeout: the refund alone does not settle it.
    const cancelled = decided(given(placed, reserved).when(deadline)).state;
    const parked = saga.park(cancelled, [release]).state;
    const outcome = decided(saga.decide(parked, refunded, { now }));
    expect(outcome.state).toMatchObject({
      status: 'NEEDS_ATTENTION',
      refund: { done: true },
      owed: [release],
    });
    expect(outcome.intents).toEqual([]);
    expect(outcome.events).toEqual([]);
  });

  it('still chases the refund of a saga parked by a failing compensation, then parks it for good', () => {
    const cancelled = decided(given(placed, reserved).when(deadline)).state;
    let state = saga.park(cancelled, [release]).state;
    const again = decided(saga.decide(state, deadline, { now }));
    expect(again.state).toMatchObject({ status: 'NEEDS_ATTENTION', refund: { requests: 2 } });
    expect(effectsOf(again)).toEqual({
      intents: [],
      events: [expect.objectContaining({ type: 'RefundRequested' })],
      ask: undefined,
    });
    state = decided(saga.decide(again.state, deadline, { now })).state;
    const last = decided(saga.decide(state, deadline, { now }));
    expect(last).toMatchObject({
      state: { status: 'NEEDS_ATTENTION' },
      intents: [],
      events: [],
      deadlineAt: null,
      note: 'refund not confirmed after 3 requests',
    });
  });

  describe("an operator's retry of a parked saga", () => {
    const retry: OrderSagaInput = { type: 'RetryRequested' };

    it('releases the stock it owes and, owing nothing more, cancels the order with its reason', () => {
      const declinedState = decided(given(placed, reserved).when(declined)).state;
      const parked = saga.park(declinedState, [release]).state;
      const outcome = decided(saga.decide(parked, retry, { now }));
      expect(outcome).toMatchObject({
        state: { status: 'CANCELLED', cancelReason: 'payment_declined' },
        deadlineAt: null,
        note: 'retried by an operator: stock released',
      });
      expect(outcome.state.owed).toBeUndefined();
      expect(effectsOf(outcome)).toEqual({
        intents: [
          release,
          {
            kind: 'SetOrderStatus',
            orderId,
            status: 'CANCELLED',
            cancelReason: 'payment_declined',
          },
        ],
        events: [],
        ask: undefined,
      });
    });

    it('asks for an unconfirmed refund again, with a deadline, and stays parked until it is confirmed', () => {
      const parked = decided(
        given(placed, reserved, deadline, deadline, deadline).when(deadline),
      ).state;
      const outcome = decided(saga.decide(parked, retry, { now }));
      expect(outcome).toMatchObject({
        state: { status: 'NEEDS_ATTENTION', refund: { requests: 4, done: false } },
        deadlineAt: new Date(now.getTime() + 30_000),
        note: 'retried by an operator: refund asked again (request 4)',
      });
      expect(effectsOf(outcome)).toEqual({
        intents: [],
        events: [
          {
            type: 'RefundRequested',
            data: {
              orderId,
              paymentId,
              amountMinor: 2598,
              currency: 'EUR',
              reason: 'payment_timeout',
            },
          },
        ],
        ask: undefined,
      });
      // Its confirmation then settles it; another missed deadline parks it again, asking no more.
      expect(decided(saga.decide(outcome.state, refunded, { now })).state.status).toBe('CANCELLED');
      expect(decided(saga.decide(outcome.state, deadline, { now }))).toMatchObject({
        state: { status: 'NEEDS_ATTENTION' },
        events: [],
      });
    });

    it('does both for a saga that owes stock and a refund', () => {
      const cancelled = decided(given(placed, reserved).when(deadline)).state;
      const parked = saga.park(cancelled, [release]).state;
      const outcome = decided(saga.decide(parked, retry, { now }));
      expect(outcome.state).toMatchObject({ status: 'NEEDS_ATTENTION', refund: { requests: 2 } });
      expect(outcome.intents).toEqual([release]);
      expect(outcome.events.map((draft) => draft.type)).toEqual(['RefundRequested']);
      expect(outcome.note).toBe(
        'retried by an operator: stock released, refund asked again (request 2)',
      );
    });

    it('changes nothing for a saga that is not parked', () => {
      for (const history of [
        [placed, reserved],
        [placed, reserved, succeeded],
        [placed, reserved, declined],
      ]) {
        const outcome = given(...history).when(retry);
        expect(outcome).toMatchObject({
          kind: 'ignore',
          note: expect.stringMatching(/^not parked/),
        });
      }
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
      intents: [
        {
          kind: 'SetOrderStatus',
          orderId,
          status: 'NEEDS_ATTENTION',
          cancelReason: 'payment_declined',
        },
      ],
      events: [],
    });
    expect(isLegalTransition(saga.transitions, before.status, 'NEEDS_ATTENTION')).toBe(true);
  });

  it('emits drafts the engine stamps, and keeps the correlation id they are to carry', () => {
    // Ids, times, correlation and causation are the engine's (see saga-engine.unit.test.ts).
    const start = decided(given().when(placed));
    expect(start.state.correlationId).toBe(correlationId);
    const outcome = decided(given(placed).when(reserved));
    expect(outcome.state.correlationId).toBe(correlationId);
    for (const draft of outcome.events) expect(Object.keys(draft).sort()).toEqual(['data', 'type']);
    expect(outcome.events.map((draft) => draft.data.orderId)).toEqual([orderId]);
  });

  it('decides the same way each time: it mints no ids and reads no clock but `now`', () => {
    const later = new Date(now.getTime() + 5_000);
    const first = given(placed).when(reserved);
    expect(given(placed).when(reserved)).toEqual(first);
    const state = decided(given().when(placed)).state;
    expect(decided(saga.decide(state, reserved, { now: later })).deadlineAt).toEqual(
      new Date(later.getTime() + 60_000),
    );
  });

  describe('its saved state', () => {
    const cancelled = decided(given(placed, reserved).when(deadline)).state;

    it('is read back as it was decided', () => {
      expect(saga.parseState(JSON.parse(JSON.stringify(cancelled)))).toEqual(cancelled);
      const parked = saga.park(cancelled, [release]).state;
      expect(saga.parseState(JSON.parse(JSON.stringify(parked)))).toEqual(parked);
    });

    it('refuses a malformed state', () => {
      expect(() => saga.parseState({ ...cancelled, status: 'SHIPPED' })).toThrow();
      expect(() => saga.parseState({ ...cancelled, orderId: 'not-a-uuid' })).toThrow();
      expect(() => saga.parseState({ ...cancelled, items: [] })).toThrow();
      expect(() => saga.parseState({ ...cancelled, unknownField: 1 })).toThrow();
      const { paymentId: _paymentId, ...withoutPaymentId } = cancelled;
      expect(() => saga.parseState(withoutPaymentId)).toThrow();
      expect(() =>
        saga.parseState({
          ...cancelled,
          owed: [{ kind: 'SellStock', orderId, compensation: true }],
        }),
      ).toThrow();
      expect(() => saga.parseState(null)).toThrow();
    });

    it("reads version 1's name of what a parked saga owes (written during a rolling deploy)", () => {
      const parkedByV1 = {
        ...cancelled,
        status: 'NEEDS_ATTENTION',
        owed: [{ kind: 'releaseStock', orderId, compensation: true }],
      };
      expect(saga.parseState(parkedByV1)).toEqual({ ...parkedByV1, owed: [release] });
    });

    it('is upgraded from version 1: owed `releaseStock` becomes `ReleaseStock`', () => {
      const savedByV1 = {
        ...cancelled,
        status: 'NEEDS_ATTENTION',
        owed: [{ kind: 'releaseStock', orderId, compensation: true }],
      };
      expect(saga.version).toBe(3);
      expect(saga.upgrade?.(savedByV1, 1)).toEqual({
        ...cancelled,
        status: 'NEEDS_ATTENTION',
        owed: [release],
      });
      expect(saga.upgrade?.(cancelled, 1)).toEqual(cancelled);
      expect(() => saga.upgrade?.({ ...savedByV1, status: 'SHIPPED' }, 1)).toThrow();
      expect(() => saga.upgrade?.(cancelled, 0)).toThrow('no upgrade from version 0');
    });

    it('is upgraded from version 2 as it was (it had no set-aside outcomes to count)', () => {
      expect(saga.upgrade?.(cancelled, 2)).toEqual(cancelled);
      expect(() => saga.upgrade?.({ ...cancelled, setAside: 0 }, 2)).toThrow();
      expect(() => saga.upgrade?.(cancelled, 4)).toThrow('no upgrade from version 4');
    });

    it('reads back the count of what it set aside', () => {
      const flagged = { ...cancelled, setAside: 2 };
      expect(saga.parseState(JSON.parse(JSON.stringify(flagged)))).toEqual(flagged);
      expect(() => saga.parseState({ ...cancelled, setAside: 0 })).toThrow();
    });
  });

  describe('a payment outcome that is not about the payment it asked for', () => {
    const foreign = <T extends 'PaymentSucceeded' | 'PaymentFailed' | 'PaymentRefunded'>(
      base: DomainEvent<T>,
      data: Partial<EventData<T>>,
    ) => event(base.type, { ...base.data, ...data } as Omit<EventData<T>, 'orderId'>);
    const awaiting = decided(given(placed).when(reserved)).state;

    it('is set aside when its payment id differs: counted, never confirmed', () => {
      const outcome = given(placed, reserved).when(
        foreign(succeeded, { paymentId: 'pay_someone-else' }),
      );
      expect(outcome).toEqual({
        kind: 'set-aside',
        state: { ...awaiting, setAside: 1 },
        reason: `PaymentSucceeded of order ${orderId} is not about the payment its saga asked for: payment id "pay_someone-else" (asked for ${paymentId})`,
      });
    });

    it('is set aside when its amount or currency differs, naming each difference', () => {
      expect(
        given(placed, reserved).when(foreign(succeeded, { amountMinor: 1, currency: 'USD' })),
      ).toEqual({
        kind: 'set-aside',
        state: { ...awaiting, setAside: 1 },
        reason: `PaymentSucceeded of order ${orderId} is not about the payment its saga asked for: amount 1 (asked for 2598), currency USD (asked for EUR)`,
      });
      expect(given(placed, reserved).when(foreign(succeeded, { amountMinor: 2599 })).kind).toBe(
        'set-aside',
      );
    });

    it('never cancels: a failure of another payment is set aside, and the saga keeps waiting for its own', () => {
      const outcome = given(placed, reserved).when(foreign(declined, { paymentId: 'pay_x' }));
      expect(outcome).toMatchObject({
        kind: 'set-aside',
        state: { status: 'AWAITING_PAYMENT', setAside: 1 },
      });
      // Its own payment's outcome still decides, after any number of foreign ones.
      const flagged = (outcome as { state: OrderSagaState }).state;
      const confirmed = decided(saga.decide(flagged, succeeded, { now }));
      expect(confirmed.state).toEqual({ ...flagged, status: 'CONFIRMED' });
      expect(confirmed.events.map((draft) => draft.type)).toEqual(['OrderConfirmed']);
      const again = saga.decide(flagged, foreign(succeeded, { currency: 'GBP' }), { now });
      expect(again).toMatchObject({ kind: 'set-aside', state: { setAside: 2 } });
    });

    it('does not confirm a refund of another amount or currency, nor a void that paid back money', () => {
      const cancelledAfterTimeout = [placed, reserved, deadline] as const;
      const setAside = (input: OrderSagaInput) => given(...cancelledAfterTimeout).when(input).kind;
      expect(setAside(foreign(refunded, { amountMinor: 2597 }))).toBe('set-aside');
      expect(setAside(foreign(refunded, { currency: 'USD' }))).toBe('set-aside');
      expect(setAside(foreign(refunded, { paymentId: 'pay_x' }))).toBe('set-aside');
      expect(setAside(foreign(refunded, { kind: 'void' }))).toBe('set-aside');
      // Its own: a refund of the total, a void of nothing.
      expect(decided(given(...cancelledAfterTimeout).when(refunded)).state.refund?.done).toBe(true);
      const voided = foreign(refunded, { kind: 'void', amountMinor: 0 });
      expect(decided(given(...cancelledAfterTimeout).when(voided)).state.refund?.done).toBe(true);
    });

    it('is set aside whatever the status, even after confirmation or cancellation', () => {
      expect(
        given(placed, reserved, succeeded).when(foreign(declined, { paymentId: 'p' })),
      ).toMatchObject({ kind: 'set-aside', state: { status: 'CONFIRMED', setAside: 1 } });
      expect(
        given(placed, reserved, declined).when(foreign(succeeded, { amountMinor: 5 })),
      ).toMatchObject({ kind: 'set-aside', state: { status: 'CANCELLED', setAside: 1 } });
    });
  });
});
