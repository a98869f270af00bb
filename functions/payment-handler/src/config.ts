import { databaseConfigSchema, parseConfig } from '@orders/runtime';
import { z } from 'zod';

const schema = databaseConfigSchema.extend({
  /** How long each call to the sandbox payment provider takes. */
  SANDBOX_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(20),
  /** The share of sandbox provider calls (0 to 1) that fail transiently. */
  SANDBOX_TRANSIENT_ERROR_RATE: z.coerce.number().min(0).max(1).default(0),
});

export type PaymentHandlerConfig = z.output<typeof schema>;

export function paymentHandlerConfig(
  env: Record<string, string | undefined> = process.env,
): PaymentHandlerConfig {
  return parseConfig(schema, env);
}
