import { databaseConfigSchema } from '@orders/runtime';
import { z } from 'zod';
import type { OrderSagaEngineOptions } from './order-saga-engine';

const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);

/** The order saga's own settings: what `pnpm sagas retry` reads too. */
export const orderSagaSettingsSchema = z.object({
  /** How long an order waits for its payment's outcome before it is cancelled. */
  PAYMENT_TIMEOUT_SECONDS: seconds(120),
  /** How long a cancelled order waits for its refund (or void) before asking again. */
  REFUND_TIMEOUT_SECONDS: seconds(60),
  /** Refund requests before the saga is parked in NEEDS_ATTENTION. */
  MAX_REFUND_REQUESTS: z.coerce.number().int().min(1).default(3),
  /** Failures of a compensation (releasing stock) before the saga is parked. */
  MAX_COMPENSATION_ATTEMPTS: z.coerce.number().int().min(1).default(3),
});

/** What process-order and housekeeping (which wakes sagas at their deadline) both read. */
export const orderSagaConfigSchema = databaseConfigSchema.extend(orderSagaSettingsSchema.shape);

export function orderSagaOptions(
  config: z.output<typeof orderSagaSettingsSchema>,
): OrderSagaEngineOptions {
  return {
    paymentTimeoutMs: config.PAYMENT_TIMEOUT_SECONDS * 1000,
    refundTimeoutMs: config.REFUND_TIMEOUT_SECONDS * 1000,
    maxRefundRequests: config.MAX_REFUND_REQUESTS,
    maxCompensationAttempts: config.MAX_COMPENSATION_ATTEMPTS,
  };
}
