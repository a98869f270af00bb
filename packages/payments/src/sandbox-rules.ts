import type { ChargeDeclineCode } from './payment-provider';

/**
 * The sandbox's documented behaviour, as pure rules (see "Payments" in the README). Demos and
 * tests pick an outcome through the customer id; every other customer is charged.
 */
const declinePrefixes = {
  'decline-': 'declined',
  'nofunds-': 'insufficient_funds',
  'fraud-': 'fraud_suspected',
} as const satisfies Record<string, ChargeDeclineCode>;

/** Customers whose every operation fails transiently on its first two attempts. */
const flakyPrefix = 'flaky-';

/**
 * Where a simulated transient failure strikes: `before` the provider records anything (it
 * was unavailable), or `after` the operation was recorded (its answer was lost on the way
 * back, which is what idempotency keys exist for).
 */
export type FaultPoint = 'before' | 'after';

export function isFlakyCustomer(customerId: string): boolean {
  return customerId.startsWith(flakyPrefix);
}

/**
 * The decline code of a customer, or undefined when the charge succeeds. A `flaky-` prefix
 * comes first and combines with the others: `flaky-nofunds-7` is declined for
 * insufficient funds once its transient failures are over.
 */
export function declineCodeOf(customerId: string): ChargeDeclineCode | undefined {
  const id = isFlakyCustomer(customerId) ? customerId.slice(flakyPrefix.length) : customerId;
  for (const [prefix, code] of Object.entries(declinePrefixes)) {
    if (id.startsWith(prefix)) return code;
  }
  return undefined;
}

/**
 * The fault of one call. `attempt` counts the calls of this operation (idempotency key) for a
 * `flaky-` customer, from 1: the first fails before anything is recorded, the second after,
 * the third and later succeed. Besides, a share `transientErrorRate` of all calls fails,
 * half of them before and half after.
 */
export function faultOf({
  customerId,
  attempt,
  transientErrorRate,
  random,
}: {
  customerId: string;
  attempt: number;
  transientErrorRate: number;
  random: () => number;
}): FaultPoint | undefined {
  if (isFlakyCustomer(customerId) && attempt <= 2) return attempt === 1 ? 'before' : 'after';
  if (transientErrorRate > 0 && random() < transientErrorRate) {
    return random() < 0.5 ? 'before' : 'after';
  }
  return undefined;
}
