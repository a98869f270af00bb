import type { ChargeDeclineCode } from './payment-provider';

/**
 * The sandbox's documented behaviour, as pure rules (docs/payments.md, "The sandbox provider"). Demos and
 * tests pick an outcome through the customer id; every other customer is charged.
 */
const declinePrefixes = {
  'decline-': 'declined',
  'nofunds-': 'insufficient_funds',
  'fraud-': 'fraud_suspected',
} as const satisfies Record<string, ChargeDeclineCode>;

/**
 * Customers whose operations fail on their first calls: `flaky-` ones transiently on the
 * first two, `late-` ones on the first, whose answer is lost while the operation lands later.
 */
const faultyPrefixes = { 'flaky-': 'flaky', 'late-': 'late' } as const;

type FaultyCustomer = (typeof faultyPrefixes)[keyof typeof faultyPrefixes];

/**
 * Where a simulated failure strikes: `before` the provider records anything (it was
 * unavailable), `after` the operation was recorded (its answer was lost on the way back,
 * which is what idempotency keys exist for), or `late`: the answer is lost at once and the
 * operation lands at the provider some time later (a call that timed out on our side while
 * the provider was still working on it).
 */
export type FaultPoint = 'before' | 'after' | 'late';

/** `flaky` or `late` for a customer whose calls fail by rule, else undefined. */
export function faultyCustomerOf(customerId: string): FaultyCustomer | undefined {
  for (const [prefix, kind] of Object.entries(faultyPrefixes)) {
    if (customerId.startsWith(prefix)) return kind;
  }
  return undefined;
}

/**
 * The decline code of a customer, or undefined when the charge succeeds. A `flaky-` or
 * `late-` prefix comes first and combines with the others: `flaky-nofunds-7` is declined for
 * insufficient funds once its transient failures are over.
 */
export function declineCodeOf(customerId: string): ChargeDeclineCode | undefined {
  const faultyPrefix = Object.keys(faultyPrefixes).find((prefix) => customerId.startsWith(prefix));
  const id = customerId.slice(faultyPrefix?.length ?? 0);
  for (const [prefix, code] of Object.entries(declinePrefixes)) {
    if (id.startsWith(prefix)) return code;
  }
  return undefined;
}

/**
 * The fault of one call. `attempt` counts the calls under one idempotency key for a `flaky-`
 * or `late-` customer, from 1. A `flaky-` customer's first call fails before anything is
 * recorded, the second after, the third and later succeed; a `late-` customer's first call
 * lands late, the later ones succeed. Besides, a share `transientErrorRate` of all calls
 * fails, half of them before and half after, and a share `lateLandingRate` of the rest lands
 * late.
 */
export function faultOf({
  customerId,
  attempt,
  transientErrorRate,
  lateLandingRate,
  random,
}: {
  customerId: string;
  attempt: number;
  transientErrorRate: number;
  lateLandingRate: number;
  random: () => number;
}): FaultPoint | undefined {
  const faulty = faultyCustomerOf(customerId);
  if (faulty === 'flaky' && attempt <= 2) return attempt === 1 ? 'before' : 'after';
  if (faulty === 'late' && attempt === 1) return 'late';
  if (transientErrorRate > 0 && random() < transientErrorRate) {
    return random() < 0.5 ? 'before' : 'after';
  }
  if (lateLandingRate > 0 && random() < lateLandingRate) return 'late';
  return undefined;
}

/** Customers whose every call is slow: long payment transactions on our side. */
const slowPrefix = 'slow-';

/**
 * How long one call takes: `slowCallMs` for a `slow-` customer and for a share
 * `slowCallRate` of the other calls, else `latencyMs`.
 */
export function latencyOf({
  customerId,
  latencyMs,
  slowCallRate,
  slowCallMs,
  random,
}: {
  customerId: string;
  latencyMs: number;
  slowCallRate: number;
  slowCallMs: number;
  random: () => number;
}): number {
  if (customerId.startsWith(slowPrefix)) return slowCallMs;
  return slowCallRate > 0 && random() < slowCallRate ? slowCallMs : latencyMs;
}
