/**
 * The order saga as documented (the table of docs/architecture.md, "The order saga"), written out here by hand and
 * on purpose not read from the saga's definition: the checker compares what the engine did
 * with what the design says, so a wrong definition cannot vouch for itself.
 *
 * Each move is `from -> to on cause`, with the lists of event types it may emit (sorted).
 */
const moves: Record<string, readonly (readonly string[])[]> = {
  'NEW -> RESERVING_STOCK on OrderPlaced': [[]],
  'RESERVING_STOCK -> AWAITING_PAYMENT on StockReserved': [['PaymentRequested']],
  'RESERVING_STOCK -> CANCELLED on StockUnavailable': [['OrderCancelled']],
  'AWAITING_PAYMENT -> CONFIRMED on PaymentSucceeded': [['OrderConfirmed']],
  'AWAITING_PAYMENT -> CANCELLED on PaymentFailed': [['OrderCancelled']],
  // Compensate in reverse: void or refund the payment, release the stock, cancel.
  'AWAITING_PAYMENT -> CANCELLED on DeadlinePassed': [['OrderCancelled', 'RefundRequested']],
  // The same two, parked because the stock release kept failing: the rest is carried out.
  'AWAITING_PAYMENT -> NEEDS_ATTENTION on PaymentFailed': [['OrderCancelled']],
  'AWAITING_PAYMENT -> NEEDS_ATTENTION on DeadlinePassed': [['OrderCancelled', 'RefundRequested']],
  // Never keep money for a cancelled order; ask again until the refund is confirmed.
  'CANCELLED -> CANCELLED on PaymentSucceeded': [['RefundRequested']],
  'CANCELLED -> CANCELLED on DeadlinePassed': [['RefundRequested']],
  'CANCELLED -> CANCELLED on PaymentRefunded': [[]],
  'CANCELLED -> NEEDS_ATTENTION on DeadlinePassed': [[]],
  'NEEDS_ATTENTION -> NEEDS_ATTENTION on PaymentSucceeded': [['RefundRequested']],
  'NEEDS_ATTENTION -> NEEDS_ATTENTION on DeadlinePassed': [['RefundRequested'], []],
  'NEEDS_ATTENTION -> NEEDS_ATTENTION on PaymentRefunded': [[]],
  'NEEDS_ATTENTION -> CANCELLED on PaymentRefunded': [[]],
  // An operator's retry (pnpm sagas retry): the stock it owes released, its refund asked again.
  'NEEDS_ATTENTION -> CANCELLED on RetryRequested': [[]],
  'NEEDS_ATTENTION -> NEEDS_ATTENTION on RetryRequested': [['RefundRequested'], []],
};

/**
 * Whether the documented saga moves `from -> to on cause`, emitting exactly `emitted`; a type
 * `undefined` is an event whose row retention purged: any type fits it.
 */
export function isDocumentedMove(
  from: string,
  to: string,
  cause: string,
  emitted: readonly (string | undefined)[],
): boolean {
  return (moves[`${from} -> ${to} on ${cause}`] ?? []).some((list) => {
    if (list.length !== emitted.length) return false;
    const left = [...list];
    for (const type of emitted) {
      if (type === undefined) continue;
      const at = left.indexOf(type);
      if (at < 0) return false;
      left.splice(at, 1);
    }
    return true;
  });
}

/** The order status that goes with each saga status. */
export const orderStatusOfSaga: Readonly<Record<string, string>> = {
  RESERVING_STOCK: 'PLACED',
  AWAITING_PAYMENT: 'AWAITING_PAYMENT',
  CONFIRMED: 'CONFIRMED',
  CANCELLED: 'CANCELLED',
  NEEDS_ATTENTION: 'NEEDS_ATTENTION',
};

/**
 * What an unfinished order waits for, by its status: the messages on its saga's path, as
 * `topic:type`. A dead letter of the order among these explains why it is not final.
 */
export const sagaPathOf: Readonly<Record<string, readonly string[]>> = {
  PLACED: ['order-saga:OrderPlaced'],
  AWAITING_PAYMENT: [
    'payments:PaymentRequested',
    'order-saga:PaymentSucceeded',
    'order-saga:PaymentFailed',
  ],
  NEEDS_ATTENTION: ['payments:RefundRequested', 'order-saga:PaymentRefunded'],
};
