import { warehouseConfigSchema } from '@orders/analytics';
import { baseConfigSchema, parseConfig } from '@orders/runtime';
import type { z } from 'zod';

const schema = baseConfigSchema.extend(warehouseConfigSchema.shape);

export type AnalyticsLoaderConfig = z.output<typeof schema>;

export function analyticsLoaderConfig(
  env: Record<string, string | undefined> = process.env,
): AnalyticsLoaderConfig {
  return parseConfig(schema, env);
}
