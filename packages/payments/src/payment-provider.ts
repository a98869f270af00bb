/**
 * What the payment service needs of a payment provider: charge, and pay a charge back.
 * Every call carries an idempotency key chosen by the caller: a provider answers a repeated
 * key with the first outcome and never moves money twice, so a call whose answer was lost
 * (a timeout, a crash) is retried with the same key. The reference adapter is
 * `createSandboxProvider`.
 *
 * A provider throws `TransientProviderError` when the call may be retried with the same key
 * (it was unavailable, or its answer was lost), and `ProviderIdempotencyConflictError` when
 * the key was already used for another request.
 */
export interface PaymentProvider {
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** Pays back, in full, the charge made under `request.chargeIdempotencyKey`. */
  refund(request: RefundRequest): Promise<RefundOutcome>;
}

/** Why a provider declines a charge; PaymentFailed carries it as its reason. */
export const chargeDeclineCodes = ['declined', 'insufficient_funds', 'fraud_suspected'] as const;
export type ChargeDeclineCode = (typeof chargeDeclineCodes)[number];

/**
 * Why a provider declines a refund: no succeeded charge has that key (it was declined, or
 * never made), or the charge was already paid back under another refund key.
 */
export type RefundDeclineCode = 'charge_not_found' | 'already_refunded';

export interface ChargeRequest {
  idempotencyKey: string;
  paymentId: string;
  orderId: string;
  customerId: string;
  amountMinor: number;
  currency: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  /**
   * The charge to pay back, named by the key it was made with rather than by the provider's
   * reference: a caller that lost the charge's answer can still refund it.
   */
  chargeIdempotencyKey: string;
}

export type ChargeOutcome =
  | { status: 'succeeded'; providerRef: string }
  | { status: 'declined'; code: ChargeDeclineCode };

export type RefundOutcome =
  | { status: 'succeeded'; providerRef: string; amountMinor: number; currency: string }
  | { status: 'declined'; code: RefundDeclineCode };
