import { describe, expect, it } from '@jest/globals';
import {
  createDeliveryPlan,
  type Delivery,
  deliveryFault,
  seededRandom,
  seededUuid,
} from './fault-plan';

const rates = { duplicate: 0.1, delay: 0.1, ackLost: 0.1, lateResult: 0.2 };
const delivery = (n: number, overrides: Partial<Delivery> = {}): Delivery => ({
  topic: 'analytics',
  eventType: 'OrderPlaced',
  correlationId: `c-${n}`,
  messageKey: `c-${n}:OrderPlaced`,
  previousDeliveries: 0,
  ...overrides,
});
const decide = (seed: string, d: Delivery) => deliveryFault(seed, d, rates, { lateHoldMs: 9_000 });

describe('the fault plan', () => {
  it('decides alike for the same seed, and otherwise for another', () => {
    const run = (seed: string) => Array.from({ length: 500 }, (_, n) => decide(seed, delivery(n)));
    expect(run('1')).toEqual(run('1'));
    expect(run('2')).not.toEqual(run('1'));
    expect(seededUuid('1', 'order', 3)).toBe(seededUuid('1', 'order', 3));
    expect(seededUuid('1', 'order', 3)).toMatch(
      /^[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/,
    );
    const random = seededRandom('1', 'crash');
    const again = seededRandom('1', 'crash');
    expect([random(), random(), random()]).toEqual([again(), again(), again()]);
  });

  it('injects each delivery fault at about its rate', () => {
    const kinds = Array.from({ length: 20_000 }, (_, n) => decide('7', delivery(n)).kind);
    const share = (kind: string) => kinds.filter((k) => k === kind).length / kinds.length;
    expect(share('duplicate-delivery')).toBeCloseTo(0.1, 1);
    expect(share('ack-lost')).toBeCloseTo(0.1, 1);
    expect(share('delay')).toBeCloseTo(0.1, 1);
    // Only payment results on their way to the saga are held past the deadline.
    expect(share('late-result')).toBe(0);
  });

  it('makes payment results to the saga late, on their first delivery only', () => {
    const toSaga = (n: number, previousDeliveries: number) =>
      decide(
        '7',
        delivery(n, { topic: 'order-saga', eventType: 'PaymentSucceeded', previousDeliveries }),
      );
    const late = Array.from({ length: 5_000 }, (_, n) => toSaga(n, 0)).filter(
      (f) => f.kind === 'late-result',
    );
    expect(late.length / 5_000).toBeCloseTo(0.2, 1);
    expect(late[0]).toEqual({ kind: 'late-result', holdMs: 9_000 });
    expect(Array.from({ length: 5_000 }, (_, n) => toSaga(n, 1).kind)).not.toContain('late-result');
  });

  it('leaves a message alone after its second delivery, so faults alone never exhaust its attempts', () => {
    const third = Array.from({ length: 2_000 }, (_, n) =>
      decide('7', delivery(n, { previousDeliveries: 2 })),
    );
    expect(new Set(third.map((fault) => fault.kind))).toEqual(new Set(['pass']));
  });
});

describe('a run’s delivery plan', () => {
  it('injects each delivery fault with a rate at least once, whatever the keys its run draws', () => {
    // Rates so low that no key of these 50 payment results falls under them: a small soak
    // with server-minted correlation ids can draw such keys, and must still test every kind.
    const low = { duplicate: 1e-9, delay: 1e-9, ackLost: 1e-9, lateResult: 1e-9 };
    const plan = createDeliveryPlan('7', low, { lateHoldMs: 9_000 });
    const result = (n: number) =>
      delivery(n, { topic: 'order-saga', eventType: 'PaymentSucceeded' });
    const kinds = Array.from({ length: 50 }, (_, n) => plan(result(n)).kind);
    expect(new Set(kinds)).toEqual(
      new Set(['late-result', 'duplicate-delivery', 'ack-lost', 'delay', 'pass']),
    );
    // Once each, then by the rates alone.
    expect(kinds.filter((kind) => kind !== 'pass')).toHaveLength(4);
    // A kind whose rate is 0 is never injected.
    const none = createDeliveryPlan('7', { ...low, lateResult: 0 }, { lateHoldMs: 9_000 });
    expect(Array.from({ length: 50 }, (_, n) => none(result(n)).kind)).not.toContain('late-result');
  });

  it('owes a fault kind only to a delivery it may happen to: late results to the saga, first deliveries', () => {
    const low = { duplicate: 0, delay: 0, ackLost: 0, lateResult: 1e-9 };
    const plan = createDeliveryPlan('7', low, { lateHoldMs: 9_000 });
    expect(plan(delivery(1)).kind).toBe('pass');
    expect(
      plan(delivery(2, { topic: 'order-saga', eventType: 'PaymentFailed', previousDeliveries: 1 }))
        .kind,
    ).toBe('pass');
    expect(plan(delivery(3, { topic: 'order-saga', eventType: 'PaymentFailed' }))).toEqual({
      kind: 'late-result',
      holdMs: 9_000,
    });
  });
});
