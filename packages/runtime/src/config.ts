import { z } from 'zod';

/** Settings every function reads. Functions extend this schema with their own. */
export const baseConfigSchema = z.object({
  GOOGLE_CLOUD_PROJECT: z.string().min(1).default('orders-local'),
  /** `host:port` of the Pub/Sub emulator; leave unset in production. */
  PUBSUB_EMULATOR_HOST: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

/** What a function with a PostgreSQL database reads besides. */
export const databaseConfigSchema = baseConfigSchema.extend({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
});

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment once, at start-up, into typed config; nothing else reads
 * `process.env`. A bad setting stops the function with every problem named.
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
