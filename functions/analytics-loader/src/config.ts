import { baseConfigSchema, parseConfig } from '@orders/runtime';
import { warehouseConfigSchema } from '@orders/warehouse';
import type { z } from 'zod';

const schema = baseConfigSchema.extend(warehouseConfigSchema.shape);

export type AnalyticsLoaderConfig = z.output<typeof schema>;

export function analyticsLoaderConfig(
  env: Record<string, string | undefined> = process.env,
): AnalyticsLoaderConfig {
  return parseConfig(schema, env);
}
