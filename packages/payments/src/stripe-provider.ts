import type Stripe from 'stripe';

import type {
  ChargeDeclineCode,
  ChargeOutcome,
  ChargeRequest,
  PaymentProvider,
  VoidOutcome,
  VoidRequest,
} from './payment-provider';
import { ProviderIdempotencyConflictError, TransientProviderError } from './provider-errors';

/**
 * The SDK, loaded on first use: a payment-handler that pays through the sandbox never loads
 * it (about 1.2 MiB of bundle, read at each cold start otherwise).
 */
let sdk: typeof Stripe | undefined;
function stripeSdk(): typeof Stripe {
  sdk ??= require('stripe') as typeof Stripe;
  return sdk;
}

export interface StripeProviderOptions {
  /** Stripe's secret (or restricted) API key. */
  secretKey: string;
  /**
   * Another base URL for the API (`http://127.0.0.1:12111`), for tests against a local
   * double; Stripe's own when omitted.
   */
  apiUrl?: string;
  /** How long one request may take before its answer counts as lost. Default 10000. */
  timeoutMs?: number;
}

type PaymentIntent = Stripe.PaymentIntent;

/**
 * The PaymentProvider port on Stripe's PaymentIntents, through the official SDK. Every
 * request that changes something carries an idempotency key derived from ours, so Stripe
 * replays the first answer to a retry (for 24 hours) and money moves once:
 *
 * - The payment is a PaymentIntent created under the charge's key, from what the charge and
 *   its void both know (amount, currency, our payment and order ids in metadata): whichever
 *   of them comes first creates it and the other gets the same one (the same key with other
 *   money is Stripe's idempotency error: ProviderIdempotencyConflictError).
 * - charge: finds the customer's payment method (the Stripe customer whose metadata
 *   `customer_id` is ours, and its default payment method: see docs/payments.md), sets the
 *   customer on the PaymentIntent, and confirms it off-session, each under a key of its own.
 *   A card decline is a declined outcome with our code; a PaymentIntent found cancelled
 *   answers `voided`.
 * - void: cancels the PaymentIntent; one that already succeeded cannot be, which is the
 *   `charged` answer.
 * - refund: refunds the PaymentIntent under the refund's key, for the amount asked, which
 *   Stripe refuses beyond what was charged.
 *
 * Network errors, timeouts, 5xx, 409 (the same key still in flight), 429 and `lock_timeout`
 * are TransientProviderError: Pub/Sub redelivers, and the same keys settle it.
 */
export function createStripeProvider({
  secretKey,
  apiUrl,
  timeoutMs = 10_000,
}: StripeProviderOptions): PaymentProvider {
  const StripeClient = stripeSdk();
  const stripe = new StripeClient(secretKey, {
    ...(apiUrl ? hostOptionsOf(apiUrl) : {}),
    timeout: timeoutMs,
    // No retries inside the SDK: a retry here would hold the handler's transaction (and the
    // payment's lock) for its backoff, while Pub/Sub redelivers a failed message with a
    // backoff of its own, and the same idempotency keys make that retry safe. (The SDK still
    // retries a connection closed before any answer once, with the same key.)
    maxNetworkRetries: 0,
    telemetry: false,
  });

  /**
   * The PaymentIntent held under the charge's key, created by the first to ask: the charge
   * and its void send exactly these parameters.
   */
  function paymentIntentOf(
    chargeKey: string,
    { paymentId, orderId, amountMinor, currency }: Omit<VoidRequest, 'chargeIdempotencyKey'>,
  ): Promise<PaymentIntent> {
    return stripe.paymentIntents.create(
      {
        amount: amountMinor,
        currency: currency.toLowerCase(),
        allowed_payment_method_types: ['card'],
        metadata: { payment_id: paymentId, order_id: orderId },
      },
      { idempotencyKey: chargeKey },
    );
  }

  /** The customer's default payment method, or undefined when there is no such customer. */
  async function paymentMethodOf(customerId: string) {
    const found = await stripe.customers.search({
      query: `metadata['customer_id']:'${customerId.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`,
      limit: 2,
    });
    const [customer, another] = found.data;
    const method = customer?.invoice_settings?.default_payment_method;
    if (!customer || another || !method) return undefined;
    return {
      customer: customer.id,
      paymentMethod: typeof method === 'string' ? method : method.id,
    };
  }

  /** The charge's outcome from the state of its PaymentIntent, when it is settled. */
  function settledCharge(intent: PaymentIntent): ChargeOutcome | undefined {
    if (intent.status === 'succeeded') return { status: 'succeeded', providerRef: intent.id };
    if (intent.status === 'canceled') return { status: 'declined', code: 'voided' };
    return undefined;
  }

  async function charge(request: ChargeRequest): Promise<ChargeOutcome> {
    const intent = await paymentIntentOf(request.idempotencyKey, request);
    const method = await paymentMethodOf(request.customerId);
    try {
      if (!method) {
        // Nothing to charge with. An earlier attempt may have charged (its answer lost) or
        // the payment may have been voided: the PaymentIntent says which.
        const current = await stripe.paymentIntents.retrieve(intent.id);
        return settledCharge(current) ?? { status: 'declined', code: 'declined' };
      }
      await stripe.paymentIntents.update(
        intent.id,
        { customer: method.customer, metadata: { customer_id: request.customerId } },
        { idempotencyKey: `${request.idempotencyKey}:customer` },
      );
      const confirmed = await stripe.paymentIntents.confirm(
        intent.id,
        { payment_method: method.paymentMethod, off_session: true },
        { idempotencyKey: `${request.idempotencyKey}:confirm` },
      );
      const outcome = settledCharge(confirmed);
      if (outcome) return outcome;
      if (confirmed.status === 'processing') {
        throw new TransientProviderError(
          `PaymentIntent ${intent.id} is still processing: ask again`,
          request.idempotencyKey,
        );
      }
      // requires_action and the like: an off-session charge cannot ask the customer.
      return { status: 'declined', code: 'declined' };
    } catch (error) {
      if (isStripeError(error) && error.rawType === 'card_error') {
        return { status: 'declined', code: declineCodeOf(error) };
      }
      const settled = unexpectedState(error);
      const outcome = settled && settledCharge(settled);
      if (outcome) return outcome;
      throw error;
    }
  }

  async function voidCharge(request: VoidRequest): Promise<VoidOutcome> {
    const intent = await paymentIntentOf(request.chargeIdempotencyKey, request);
    try {
      const cancelled = await stripe.paymentIntents.cancel(
        intent.id,
        { cancellation_reason: 'abandoned' },
        { idempotencyKey: `${request.chargeIdempotencyKey}:void` },
      );
      return voidOutcome(cancelled, request.chargeIdempotencyKey);
    } catch (error) {
      const settled = unexpectedState(error);
      if (settled) return voidOutcome(settled, request.chargeIdempotencyKey);
      throw error;
    }
  }

  return {
    charge: (request) => mapErrors(request.idempotencyKey, () => charge(request)),
    void: (request) => mapErrors(request.chargeIdempotencyKey, () => voidCharge(request)),
    refund: (request) =>
      mapErrors(request.idempotencyKey, async () => {
        // Only a succeeded payment of ours is paid back.
        const charged = await stripe.paymentIntents.retrieve(request.chargeRef).catch(notFound);
        if (charged?.status !== 'succeeded' || charged.metadata.payment_id !== request.paymentId) {
          return { status: 'declined', code: 'charge_not_found' };
        }
        try {
          const refund = await stripe.refunds.create(
            {
              payment_intent: request.chargeRef,
              amount: request.amountMinor,
              metadata: { payment_id: request.paymentId, order_id: request.orderId },
            },
            { idempotencyKey: request.idempotencyKey },
          );
          if (refund.status === 'failed' || refund.status === 'canceled') {
            return { status: 'declined', code: 'refund_failed' };
          }
          return {
            status: 'succeeded',
            providerRef: refund.id,
            amountMinor: refund.amount,
            currency: refund.currency.toUpperCase(),
          };
        } catch (error) {
          if (isStripeError(error) && error.rawType === 'invalid_request_error') {
            if (error.code === 'charge_already_refunded') {
              return { status: 'declined', code: 'already_refunded' };
            }
            if (error.code === 'amount_too_large') {
              return { status: 'declined', code: 'exceeds_charge' };
            }
          }
          throw error;
        }
      }),
  };
}

/** `host`, `port` and `protocol` of the SDK from a base URL. */
export function hostOptionsOf(apiUrl: string) {
  const url = new URL(apiUrl);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return {
    host: url.hostname,
    port: url.port || (protocol === 'http' ? '80' : '443'),
    protocol,
  } as const;
}

function voidOutcome(intent: PaymentIntent, key: string): VoidOutcome {
  if (intent.status === 'canceled') return { status: 'voided', providerRef: intent.id };
  if (intent.status === 'succeeded') return { status: 'charged', providerRef: intent.id };
  // processing: the charge is on its way; its fate is not known yet.
  throw new TransientProviderError(
    `PaymentIntent ${intent.id} is ${intent.status}: it cannot be voided yet`,
    key,
  );
}

/** Undefined for a 404 (no such object), else the error again. */
function notFound(error: unknown): undefined {
  if (isStripeError(error) && error.statusCode === 404) return undefined;
  throw error;
}

function isStripeError(error: unknown): error is InstanceType<typeof Stripe.errors.StripeError> {
  return error instanceof stripeSdk().errors.StripeError;
}

/** The PaymentIntent of a `payment_intent_unexpected_state` error: it was settled meanwhile. */
function unexpectedState(error: unknown): PaymentIntent | undefined {
  if (!isStripeError(error) || error.code !== 'payment_intent_unexpected_state') return undefined;
  return error.payment_intent;
}

/** Stripe's decline codes, as ours; any other decline is `declined`. */
const declineCodes: Record<string, ChargeDeclineCode> = {
  insufficient_funds: 'insufficient_funds',
  fraudulent: 'fraud_suspected',
  stolen_card: 'fraud_suspected',
  lost_card: 'fraud_suspected',
  pickup_card: 'fraud_suspected',
  merchant_blacklist: 'fraud_suspected',
};

function declineCodeOf(error: InstanceType<typeof Stripe.errors.StripeError>): ChargeDeclineCode {
  return declineCodes[error.decline_code ?? ''] ?? 'declined';
}

/** Stripe's failures as the port's: transient ones, and a key reused for another request. */
async function mapErrors<T>(key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!isStripeError(error)) throw error;
    const status = error.statusCode ?? 0;
    if (
      error instanceof stripeSdk().errors.StripeConnectionError ||
      error instanceof stripeSdk().errors.StripeAPIError ||
      error instanceof stripeSdk().errors.StripeRateLimitError ||
      status >= 500 ||
      status === 409 ||
      status === 429 ||
      error.code === 'lock_timeout'
    ) {
      throw new TransientProviderError(`Stripe did not answer: ${error.message}`, key, {
        cause: error,
      });
    }
    if (error instanceof stripeSdk().errors.StripeIdempotencyError) {
      throw new ProviderIdempotencyConflictError(key, error.message);
    }
    throw error;
  }
}
