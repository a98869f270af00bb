import { orderSagaConfigSchema } from '@orders/ordering';
import { housekeepingSettingsSchema } from '@orders/platform';
import { parseConfig } from '@orders/runtime';
import type { z } from 'zod';

/** The database's and the order saga's settings, and housekeeping's own (with their rules). */
const schema = orderSagaConfigSchema.and(housekeepingSettingsSchema);

export type HousekeepingConfig = z.output<typeof schema>;

export function housekeepingConfig(
  env: Record<string, string | undefined> = process.env,
): HousekeepingConfig {
  return parseConfig(schema, env);
}
