import { databaseConfigSchema, parseConfig } from '@orders/runtime';
import { z } from 'zod';

const rate = z.coerce.number().min(0).max(1);

const schema = databaseConfigSchema.extend({
  /** How long each call to the sandbox payment provider takes. */
  SANDBOX_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(20),
  /** The share of sandbox provider calls (0 to 1) that fail transiently. */
  SANDBOX_TRANSIENT_ERROR_RATE: rate.default(0),
  /** The share of sandbox provider calls whose answer is lost while they land later. */
  SANDBOX_LATE_LANDING_RATE: rate.default(0),
  /** How long after its call a late sandbox operation lands. */
  SANDBOX_LATE_LANDING_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  /** The share of sandbox provider calls that take SANDBOX_SLOW_CALL_MS. */
  SANDBOX_SLOW_CALL_RATE: rate.default(0),
  /** How long a slow sandbox provider call takes. */
  SANDBOX_SLOW_CALL_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
});

export type PaymentHandlerConfig = z.output<typeof schema>;

export function paymentHandlerConfig(
  env: Record<string, string | undefined> = process.env,
): PaymentHandlerConfig {
  return parseConfig(schema, env);
}
