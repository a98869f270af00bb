import { createHash } from 'node:crypto';
import { seededRandom as mulberry32 } from '@orders/local-stack';
import { seededShare } from '@orders/platform';

/** What `pnpm chaos` injects, by kind; the report counts each. */
export const faultKinds = [
  /** A push delivered twice at once. */
  'duplicate-delivery',
  /** An event already handled, published again (twice, concurrently). */
  'republish',
  /** A push refused once, so Pub/Sub delivers it again later, after events published after it. */
  'delay',
  /** A push handled, but its acknowledgement lost: Pub/Sub delivers it again, later. */
  'ack-lost',
  /** A payment result refused until after its order's payment deadline has passed. */
  'late-result',
  /** A function process SIGKILLed at a random moment. */
  'crash',
  /** A function process killed after a commit, before publishing what it emitted. */
  'crash-before-publish',
  /** A transient payment provider error (a `flaky-` customer's first two attempts). */
  'provider-error',
  /**
   * A provider answer lost while the operation lands at the provider later (a `late-`
   * customer's charge), after its order may have given up on it.
   */
  'late-landing',
  /** A payment whose every provider call is slow (a `slow-` customer): long transactions. */
  'slow-payment',
  /**
   * A consumer down (every push refused) for longer than its subscription's delivery
   * attempts: Pub/Sub dead-letters what it could not deliver.
   */
  'consumer-outage',
  /**
   * A topic refusing every publish (403 or 404) for a while: its copies wait in the outbox,
   * the other routes go on.
   */
  'publish-refused',
  /** A payment the provider declines. */
  'decline',
  /** A database connection terminated in the middle of a transaction. */
  'db-connection-killed',
  /** A message that can never be handled (bad JSON or schema, unknown type or version). */
  'poison',
] as const;

export type FaultKind = (typeof faultKinds)[number];
export type FaultCounts = Record<FaultKind, number>;

export function noFaults(): FaultCounts {
  return Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as FaultCounts;
}

/** A seeded generator of numbers in [0, 1), one stream per name, for sequences such as the crash times. */
export function seededRandom(seed: string, stream: string): () => number {
  return mulberry32(Math.floor(seededShare(seed, stream) * 2 ** 32));
}

/** A UUID (v4 layout) that depends only on the seed and `parts`. */
export function seededUuid(seed: string, ...parts: (string | number)[]): string {
  const hex = createHash('sha256')
    .update([seed, 'uuid', ...parts].join(':'))
    .digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface DeliveryRates {
  duplicate: number;
  delay: number;
  ackLost: number;
  /** Of payment results on their way to the saga. */
  lateResult: number;
}

export interface Delivery {
  topic: string;
  eventType: string;
  correlationId: string;
  /**
   * What the decision is keyed by: the message's correlation id and type. The intake mints
   * correlation ids, so two runs of one seed place the same orders but fault other messages.
   */
  messageKey: string;
  /** How many times this very message has reached the proxy before, from 0. */
  previousDeliveries: number;
}

export type DeliveryFault =
  | { kind: 'pass' }
  | { kind: 'duplicate-delivery' | 'ack-lost' | 'delay' }
  | { kind: 'late-result'; holdMs: number };

const paymentResults = new Set(['PaymentSucceeded', 'PaymentFailed']);

/** A payment result on its first way to the saga: the one push that may be held late. */
function isLateable(delivery: Delivery): boolean {
  return (
    delivery.topic === 'order-saga' &&
    paymentResults.has(delivery.eventType) &&
    delivery.previousDeliveries === 0
  );
}

/**
 * What happens to one push. Only a message's first two deliveries are tampered with, so no
 * message is pushed past its topic's delivery attempts by faults alone.
 */
export function deliveryFault(
  seed: string,
  delivery: Delivery,
  rates: DeliveryRates,
  { lateHoldMs }: { lateHoldMs: number },
): DeliveryFault {
  if (delivery.previousDeliveries > 1) return { kind: 'pass' };
  const share = seededShare(
    seed,
    'delivery',
    delivery.topic,
    delivery.messageKey,
    delivery.previousDeliveries,
  );
  const late = isLateable(delivery);
  // Consecutive slices of [0, 1): the share falls in at most one.
  const slices: [number, DeliveryFault][] = [
    [late ? rates.lateResult : 0, { kind: 'late-result', holdMs: lateHoldMs }],
    [rates.duplicate, { kind: 'duplicate-delivery' }],
    [rates.ackLost, { kind: 'ack-lost' }],
    [rates.delay, { kind: 'delay' }],
  ];
  let bound = 0;
  for (const [width, fault] of slices) {
    bound += width;
    if (share < bound) return fault;
  }
  return { kind: 'pass' };
}

/**
 * One run's decisions, push by push, in the order the pushes reach the proxy: each by its
 * message's key (`deliveryFault`), but for a kind with a rate that the run has not drawn yet,
 * which the next first delivery it may happen to gets. Keys hold correlation ids the intake
 * mints, so a small run could otherwise draw none of a rare kind (a late result is 5% of the
 * payment results) and test less than it says.
 */
export function createDeliveryPlan(
  seed: string,
  rates: DeliveryRates,
  options: { lateHoldMs: number },
): (delivery: Delivery) => DeliveryFault {
  const owed: DeliveryFault[] = [
    ...(rates.lateResult > 0 ? [{ kind: 'late-result', holdMs: options.lateHoldMs } as const] : []),
    ...(rates.duplicate > 0 ? [{ kind: 'duplicate-delivery' } as const] : []),
    ...(rates.ackLost > 0 ? [{ kind: 'ack-lost' } as const] : []),
    ...(rates.delay > 0 ? [{ kind: 'delay' } as const] : []),
  ];
  const mayHappenTo = (fault: DeliveryFault, delivery: Delivery) =>
    delivery.previousDeliveries === 0 && (fault.kind !== 'late-result' || isLateable(delivery));
  return (delivery) => {
    let fault = deliveryFault(seed, delivery, rates, options);
    if (fault.kind === 'pass') {
      fault = owed.find((kind) => mayHappenTo(kind, delivery)) ?? fault;
    }
    const drawn = owed.findIndex((kind) => kind.kind === fault.kind);
    if (drawn >= 0) owed.splice(drawn, 1);
    return fault;
  };
}
