import { databaseConfigSchema, parseConfig } from '@orders/runtime';
import { z } from 'zod';

const schema = databaseConfigSchema.extend({
  /** Most lines one order may have (the event schema allows 50). */
  MAX_ORDER_ITEMS: z.coerce.number().int().min(1).max(50).default(20),
  /** Bodies over this size are refused with 413. */
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  /** How long a completed Idempotency-Key replays its response. */
  IDEMPOTENCY_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 60 * 60),
  /** How long an in-flight request holds its key before a retry may take it over. */
  IDEMPOTENCY_LOCK_SECONDS: z.coerce.number().int().min(1).default(60),
});

export type PlaceOrderConfig = z.output<typeof schema>;

export function placeOrderConfig(
  env: Record<string, string | undefined> = process.env,
): PlaceOrderConfig {
  return parseConfig(schema, env);
}
