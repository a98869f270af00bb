import { describe, expect, it } from '@jest/globals';
import {
  createEvent,
  type DomainEvent,
  type EventData,
  paymentIdOf,
  producers,
} from '@orders/events';
import { isLegalTransition, NEW } from '@orders/saga-engine';
import fc from 'fast-check';
import {
  createOrderSaga,
  type OrderSagaInput,
  type OrderSagaState,
  type OrderStatus,
  orderStatusOf,
} from './order-saga';

// A decision must never throw on valid input: whatever valid events arrive, in whatever
// order, the saga answers with an outcome, and every decision is a legal move into a state
// its schema reads back, that keeps the order's status in step with the saga's.

const saga = createOrderSaga({
  paymentTimeoutMs: 60_000,
  refundTimeoutMs: 30_000,
  maxRefundRequests: 3,
});
const now = new Date('2026-11-28T10:00:00.000Z');
const fuzzSeed = Number(process.env.FUZZ_SEED ?? 20261202);

const skuArbitrary = fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{0,63}$/, { size: 'max' });
const itemsArbitrary = fc.uniqueArray(
  fc.record({
    sku: skuArbitrary,
    quantity: fc.integer({ min: 1, max: 1000 }),
    unitPriceMinor: fc.integer({ min: 0, max: 1_000_000 }),
  }),
  { minLength: 1, maxLength: 50, selector: (item) => item.sku, size: 'max' },
);

const placedArbitrary = fc
  .record({
    orderId: fc.uuid({ version: 4 }),
    correlationId: fc.uuid({ version: 4 }),
    customerId: fc.string({ minLength: 1, maxLength: 200 }),
    currency: fc.stringMatching(/^[A-Z]{3}$/),
    items: itemsArbitrary,
  })
  .map(({ orderId, correlationId, customerId, currency, items }) =>
    createEvent(
      'OrderPlaced',
      {
        orderId,
        customerId,
        currency,
        items,
        totalMinor: items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0),
      },
      { source: 'test', correlationId },
    ),
  );

type Placed = DomainEvent<'OrderPlaced'>;

/** Any valid input about the placed order, as the saga may receive it in any order. */
function inputArbitrary(placed: Placed): fc.Arbitrary<OrderSagaInput> {
  const { orderId, currency, totalMinor, items } = placed.data;
  const paymentId = paymentIdOf(orderId);
  const about = <T extends 'PaymentSucceeded' | 'PaymentFailed' | 'PaymentRefunded'>(
    type: T,
    data: Omit<EventData<T>, 'orderId' | 'paymentId'>,
  ) =>
    createEvent(type, { orderId, paymentId, ...data } as EventData<T>, {
      source: 'test',
      correlationId: placed.correlationId,
    }) as OrderSagaInput;
  return fc.oneof(
    fc.constant<OrderSagaInput>(placed),
    fc.constant<OrderSagaInput>({ type: 'StockReserved' }),
    fc
      .subarray(
        (items ?? []).map((item) => item.sku),
        { minLength: 1 },
      )
      .map((skus): OrderSagaInput => ({ type: 'StockUnavailable', skus })),
    fc.constant<OrderSagaInput>({ type: 'DeadlinePassed' }),
    fc.constant<OrderSagaInput>({ type: 'RetryRequested' }),
    fc
      .string({ minLength: 1, maxLength: 200 })
      .map((providerRef) =>
        about('PaymentSucceeded', { providerRef, amountMinor: totalMinor, currency }),
      ),
    fc
      .record({
        reason: fc.constantFrom('declined', 'insufficient_funds', 'fraud_suspected', 'voided'),
        message: fc.option(fc.string({ maxLength: 500 }), { nil: undefined }),
      })
      .map(({ reason, message }) =>
        about('PaymentFailed', { reason, ...(message === undefined ? {} : { message }) }),
      ),
    fc
      .record({
        refundId: fc.string({ minLength: 1, maxLength: 200 }),
        kind: fc.constantFrom('refund', 'void'),
      })
      .map(({ refundId, kind }) =>
        about('PaymentRefunded', {
          refundId,
          kind,
          amountMinor: kind === 'void' ? 0 : totalMinor,
          currency,
        }),
      ),
  );
}

/** As the engine drives it: OrderPlaced, the answer of its stock step, then any inputs. */
const runArbitrary = placedArbitrary.chain((placed) =>
  fc.tuple(
    fc.constant(placed),
    fc.oneof(stockAnswerArbitrary(placed), inputArbitrary(placed)),
    fc.array(inputArbitrary(placed), { maxLength: 12 }),
  ),
);

function stockAnswerArbitrary(placed: Placed): fc.Arbitrary<OrderSagaInput> {
  const skus = (placed.data.items ?? []).map((item) => item.sku);
  return fc.oneof(
    fc.constant<OrderSagaInput>({ type: 'StockReserved' }),
    fc
      .subarray(skus, { minLength: 1 })
      .map((short): OrderSagaInput => ({ type: 'StockUnavailable', skus: short })),
  );
}

describe('order saga decisions (properties)', () => {
  it('never throw on valid input, and only ever make legal moves', () => {
    fc.assert(
      fc.property(runArbitrary, ([placed, answer, inputs]) => {
        let state: OrderSagaState | undefined;
        for (const input of [placed, answer, ...inputs]) {
          const outcome = saga.decide(state, input, { now });
          if (outcome.kind !== 'decision') continue;
          const from = state?.status ?? NEW;
          expect(isLegalTransition(saga.transitions, from, outcome.state.status)).toBe(true);
          if (outcome.deadlineAt)
            expect(outcome.deadlineAt.getTime()).toBeGreaterThan(now.getTime());
          state = outcome.state;
        }
      }),
      { seed: fuzzSeed, numRuns: 200 },
    );
  });

  it('decide states their schema reads back, and set the order status exactly when it changes', () => {
    fc.assert(
      fc.property(runArbitrary, ([placed, answer, inputs]) => {
        let state: OrderSagaState | undefined;
        for (const input of [placed, answer, ...inputs]) {
          const outcome = saga.decide(state, input, { now });
          if (outcome.kind !== 'decision') continue;
          const next = outcome.state;
          // As saved (JSON) and loaded again.
          expect(saga.parseState(JSON.parse(JSON.stringify(next)))).toEqual(next);

          // The order is PLACED before its saga starts.
          const before: OrderStatus = state ? orderStatusOf[state.status] : 'PLACED';
          const after = orderStatusOf[next.status];
          const set = outcome.intents.filter((intent) => intent.kind === 'SetOrderStatus');
          expect(set).toEqual(
            before === after
              ? []
              : [
                  {
                    kind: 'SetOrderStatus',
                    orderId: next.orderId,
                    status: after,
                    ...(next.cancelReason ? { cancelReason: next.cancelReason } : {}),
                  },
                ],
          );
          // Decisions are data: the same input on the same state decides the same.
          expect(saga.decide(state, input, { now })).toEqual(outcome);
          state = next;
        }
      }),
      { seed: fuzzSeed, numRuns: 200 },
    );
  });

  it('set aside, in any state, every payment outcome whose payment id, amount or currency differs, and change nothing else', () => {
    /** One of its own payment outcomes with one of its payment id, amount or currency changed. */
    const foreignArbitrary = (placed: Placed) =>
      fc
        .tuple(
          inputArbitrary(placed).filter((input) => input.type.startsWith('Payment')),
          fc.constantFrom('paymentId', 'amountMinor', 'currency'),
          fc.string({ minLength: 1, maxLength: 200 }),
          fc.integer({ min: 1, max: 1_000_000 }),
          fc.stringMatching(/^[A-Z]{3}$/),
        )
        .map(([input, field, paymentId, delta, currency]) => {
          const data = (input as DomainEvent).data as Record<string, unknown>;
          const changed =
            field === 'paymentId'
              ? { paymentId: `${data.paymentId}${paymentId}` }
              : field === 'amountMinor' && 'amountMinor' in data
                ? { amountMinor: (data.amountMinor as number) + delta }
                : field === 'currency' && 'currency' in data && data.currency !== currency
                  ? { currency }
                  : { paymentId: `other-${paymentId}` };
          return { ...input, data: { ...data, ...changed } } as OrderSagaInput;
        });
    fc.assert(
      fc.property(
        runArbitrary.chain(([placed, answer, inputs]) =>
          fc.tuple(fc.constant([placed, answer, ...inputs]), foreignArbitrary(placed)),
        ),
        ([inputs, foreign]) => {
          let state: OrderSagaState | undefined;
          for (const input of inputs) {
            const outcome = saga.decide(state, input, { now });
            if (outcome.kind === 'decision') state = outcome.state;
            if (!state) continue;
            expect(saga.decide(state, foreign, { now })).toEqual({
              kind: 'set-aside',
              state: { ...state, setAside: (state.setAside ?? 0) + 1 },
              reason: expect.stringContaining('is not about the payment its saga asked for'),
            });
          }
        },
      ),
      { seed: fuzzSeed, numRuns: 200 },
    );
  });

  it('emit exactly the event types the catalog lets process-order emit (its outbox rows record it)', () => {
    const emitted = new Set<string>();
    fc.assert(
      fc.property(runArbitrary, ([placed, answer, inputs]) => {
        let state: OrderSagaState | undefined;
        for (const input of [placed, answer, ...inputs]) {
          const outcome = saga.decide(state, input, { now });
          if (outcome.kind !== 'decision') continue;
          for (const draft of outcome.events) emitted.add(draft.type);
          for (const draft of saga.park(outcome.state, []).events) emitted.add(draft.type);
          state = outcome.state;
        }
      }),
      { seed: fuzzSeed, numRuns: 200 },
    );
    expect([...emitted].sort()).toEqual([...producers['process-order']].sort());
  });

  it('cancels an order whose many long skus are short with a detail its schema accepts', () => {
    const items = Array.from({ length: 50 }, (_, index) => ({
      sku: `SKU-${String(index).padStart(2, '0')}-${'X'.repeat(57)}`,
      quantity: 1,
      unitPriceMinor: 100,
    }));
    const placed = createEvent(
      'OrderPlaced',
      {
        orderId: '3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
        customerId: 'cust-1',
        currency: 'EUR',
        items,
        totalMinor: 5000,
      },
      { source: 'test', correlationId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' },
    );
    const placedOutcome = saga.decide(undefined, placed, { now });
    if (placedOutcome.kind !== 'decision') throw new Error(placedOutcome.kind);
    const outcome = saga.decide(
      placedOutcome.state,
      { type: 'StockUnavailable', skus: items.map((item) => item.sku) },
      { now },
    );
    expect(outcome).toMatchObject({ kind: 'decision', state: { status: 'CANCELLED' } });
  });
});
