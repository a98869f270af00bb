/**
 * What the payment service needs of a payment provider: charge, void a charge that must not
 * happen, and pay a charge back. Every call carries an idempotency key chosen by the caller:
 * a provider answers a repeated key with the first outcome and never moves money twice, so a
 * call whose answer was lost (a timeout, a crash) is retried with the same key. The reference
 * adapter is `createSandboxProvider`.
 *
 * A provider throws `TransientProviderError` when the call may be retried with the same key
 * (it was unavailable, or its answer was lost), and `ProviderIdempotencyConflictError` when
 * the key was already used for another request.
 */
export interface PaymentProvider {
  /** Declined `voided` when the charge's key was voided first. */
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /**
   * Settles the fate of the charge under `request.chargeIdempotencyKey`, whether or not the
   * caller ever heard of it (its answer may have been lost while it was still on its way):
   * - `voided`: nothing was charged under that key (no charge arrived, or it was declined),
   *   and from now on nothing can be: a charge arriving under it is declined `voided`;
   * - `charged`: the charge succeeded first; it stays charged, and the caller must refund it.
   * The void is an operation under the charge's key, so a void and a charge racing under one
   * key are decided once, and asking again answers alike. A real provider creates or gets
   * the payment it holds under that key (hence the amount), then cancels it; cancelling
   * fails when the payment already succeeded, which is the `charged` answer.
   */
  void(request: VoidRequest): Promise<VoidOutcome>;
  /**
   * Pays back, in full, the charge made under `request.chargeIdempotencyKey` (the provider's
   * `request.chargeRef`); never more than was charged.
   */
  refund(request: RefundRequest): Promise<RefundOutcome>;
}

/**
 * Why a provider declines a charge; PaymentFailed carries it as its reason. `voided`: the
 * charge's key was voided before the charge arrived.
 */
export const chargeDeclineCodes = [
  'declined',
  'insufficient_funds',
  'fraud_suspected',
  'voided',
] as const;
export type ChargeDeclineCode = (typeof chargeDeclineCodes)[number];

/**
 * Why a provider declines a refund: no succeeded charge has that key (it was declined,
 * voided, or never made), the charge was already paid back under another refund key, the
 * amount is more than was charged, or the provider could not pay it back (`refund_failed`).
 */
export type RefundDeclineCode =
  | 'charge_not_found'
  | 'already_refunded'
  | 'exceeds_charge'
  | 'refund_failed';

export interface ChargeRequest {
  idempotencyKey: string;
  paymentId: string;
  orderId: string;
  customerId: string;
  amountMinor: number;
  currency: string;
}

/** The payment whose charge is voided, as the charge under that key was (or would be) made. */
export interface VoidRequest {
  chargeIdempotencyKey: string;
  paymentId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  /** The charge to pay back, by the key it was made with. */
  chargeIdempotencyKey: string;
  /**
   * The provider's reference of that charge, as its charge or its void answered (a caller
   * that lost the charge's answer learns it from the void).
   */
  chargeRef: string;
  paymentId: string;
  orderId: string;
  /** What to pay back: the whole charge. A provider refuses more than was charged. */
  amountMinor: number;
}

export type ChargeOutcome =
  | { status: 'succeeded'; providerRef: string }
  | { status: 'declined'; code: ChargeDeclineCode };

/** `providerRef`: the provider's reference of the payment held under the charge's key. */
export type VoidOutcome =
  | { status: 'voided'; providerRef: string }
  | { status: 'charged'; providerRef: string };

export type RefundOutcome =
  | { status: 'succeeded'; providerRef: string; amountMinor: number; currency: string }
  | { status: 'declined'; code: RefundDeclineCode };
