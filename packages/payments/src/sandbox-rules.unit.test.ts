import { describe, expect, it } from '@jest/globals';
import { declineCodeOf, faultOf, faultyCustomerOf, latencyOf } from './sandbox-rules';

const never = () => {
  throw new Error('randomness must not be drawn');
};

describe('declineCodeOf', () => {
  it.each([
    ['decline-42', 'declined'],
    ['nofunds-42', 'insufficient_funds'],
    ['fraud-42', 'fraud_suspected'],
    ['flaky-decline-1', 'declined'],
    ['flaky-nofunds-1', 'insufficient_funds'],
    ['flaky-fraud-1', 'fraud_suspected'],
    ['decline-flaky-1', 'declined'],
    ['late-decline-1', 'declined'],
    ['late-nofunds-1', 'insufficient_funds'],
  ])('declines %s with %s', (customerId, code) => {
    expect(declineCodeOf(customerId)).toBe(code);
  });

  it.each([
    'cust-1',
    'flaky-1',
    'late-1',
    'flaky-late-decline-1',
    'Decline-1',
    'my-decline-1',
    'decline',
    'nofunds',
    'fraudster',
  ])('charges %s', (customerId) => {
    expect(declineCodeOf(customerId)).toBeUndefined();
  });
});

describe('faultOf', () => {
  const calm = { transientErrorRate: 0, lateLandingRate: 0, random: never };

  it('fails a flaky- customer before recording on attempt 1, after on attempt 2, then never', () => {
    const faults = [1, 2, 3, 4].map((attempt) =>
      faultOf({ customerId: 'flaky-7', attempt, ...calm }),
    );
    expect(faults).toEqual(['before', 'after', undefined, undefined]);
  });

  it('lands the first call of a late- customer late, then never fails it', () => {
    const faults = [1, 2, 3].map((attempt) =>
      faultOf({ customerId: 'late-nofunds-7', attempt, ...calm }),
    );
    expect(faults).toEqual(['late', undefined, undefined]);
  });

  it('takes flaky- and late- as prefixes only', () => {
    expect(faultyCustomerOf('flaky-1')).toBe('flaky');
    expect(faultyCustomerOf('late-1')).toBe('late');
    expect(faultyCustomerOf('decline-flaky-1')).toBeUndefined();
    expect(faultyCustomerOf('decline-late-1')).toBeUndefined();
    expect(faultyCustomerOf('Flaky-1')).toBeUndefined();
    expect(faultyCustomerOf('lately-1')).toBeUndefined();
  });

  it('never fails another customer when the rate is 0', () => {
    expect(faultOf({ customerId: 'cust-1', attempt: 0, ...calm })).toBeUndefined();
    expect(faultOf({ customerId: 'decline-1', attempt: 0, ...calm })).toBeUndefined();
  });

  it('fails a call when its draw is below the rate, then draws before or after', () => {
    const draws = [0.05, 0.2, 0.05, 0.7, 0.5, 0.1, 0.99];
    const random = () => draws.shift()!;
    const fault = () =>
      faultOf({
        customerId: 'cust-1',
        attempt: 0,
        transientErrorRate: 0.1,
        lateLandingRate: 0,
        random,
      });
    expect([fault(), fault(), fault(), fault(), fault()]).toEqual([
      'before',
      'after',
      undefined,
      undefined,
      undefined,
    ]);
    expect(draws).toEqual([]);
  });

  it('fails about the share of calls the rate asks for, half of them before recording', () => {
    // A fixed-seed generator (a 32-bit LCG): the same draws on every run.
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const faults = Array.from({ length: 20_000 }, () =>
      faultOf({
        customerId: 'cust-1',
        attempt: 0,
        transientErrorRate: 0.25,
        lateLandingRate: 0,
        random,
      }),
    );
    const before = faults.filter((fault) => fault === 'before').length;
    const after = faults.filter((fault) => fault === 'after').length;
    expect((before + after) / faults.length).toBeCloseTo(0.25, 1);
    expect(before / (before + after)).toBeCloseTo(0.5, 1);
  });

  it('lands a call late when its transient draw passes and its late draw is below the rate', () => {
    // transient draw, then late draw; a transient fault takes its before/after draw instead.
    const draws = [0.5, 0.05, 0.5, 0.3, 0.05, 0.9];
    const random = () => draws.shift()!;
    const fault = () =>
      faultOf({
        customerId: 'cust-1',
        attempt: 0,
        transientErrorRate: 0.1,
        lateLandingRate: 0.2,
        random,
      });
    expect([fault(), fault(), fault()]).toEqual(['late', undefined, 'after']);
    expect(draws).toEqual([]);
  });

  it('lands a late- customer late on its first call without drawing', () => {
    expect(
      faultOf({
        customerId: 'late-1',
        attempt: 1,
        transientErrorRate: 1,
        lateLandingRate: 1,
        random: never,
      }),
    ).toBe('late');
  });
});

describe('latencyOf', () => {
  const latencies = { customerId: 'cust-1', latencyMs: 20, slowCallMs: 5000 };

  it('takes latencyMs without drawing when no call is slow', () => {
    expect(latencyOf({ ...latencies, slowCallRate: 0, random: never })).toBe(20);
  });

  it('takes slowCallMs when its draw is below the rate', () => {
    const draws = [0.09, 0.1, 0.5];
    const random = () => draws.shift()!;
    const latency = () => latencyOf({ ...latencies, slowCallRate: 0.1, random });
    expect([latency(), latency(), latency()]).toEqual([5000, 20, 20]);
    expect(draws).toEqual([]);
  });

  it('takes slowCallMs for every call of a slow- customer', () => {
    expect(latencyOf({ ...latencies, customerId: 'slow-7', slowCallRate: 0, random: never })).toBe(
      5000,
    );
    expect(
      latencyOf({ ...latencies, customerId: 'my-slow-7', slowCallRate: 0, random: never }),
    ).toBe(20);
  });
});
