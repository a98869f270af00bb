import { currencySchema, defaultLegacyCurrency } from '@orders/events';
import { z } from 'zod';

/** Settings every function reads. Functions extend this schema with their own. */
export const baseConfigSchema = z.object({
  GOOGLE_CLOUD_PROJECT: z.string().min(1).default('orders-local'),
  /** `host:port` of the Pub/Sub emulator; leave unset in production. */
  PUBSUB_EMULATOR_HOST: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * The currency of an OrderPlaced v1 that names none (the Python reference's producers send
   * none): consumers pass it to decoding.
   */
  LEGACY_CURRENCY: currencySchema.default(defaultLegacyCurrency),
});

/** For a refinement across settings: checked even when others are bad, so one run names every problem. */
export const always = { when: () => true };
/** A setting that is set: an empty value is none. */
export const present = (value: unknown) => value !== undefined && value !== '';

/**
 * What a function with a PostgreSQL database reads besides: DATABASE_URL locally, or in
 * production CLOUD_SQL_INSTANCE with the IAM database user and database to connect as.
 */
export const databaseConfigSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    /** `project:region:instance`; when set, connections go through the Cloud SQL connector. */
    CLOUD_SQL_INSTANCE: z
      .string()
      .regex(/^[a-z0-9.:-]+:[a-z0-9-]+:[a-z0-9-]+$/, 'expected project:region:instance')
      .optional(),
    /** The IAM database user, e.g. `fn-place-order@my-project.iam` for a service account. */
    DB_USER: z.string().min(1).optional(),
    DB_NAME: z.string().min(1).optional(),
    DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
    /** Fault injection for `pnpm chaos` and crash tests (see fault-injection.ts); never in production. */
    FAULT_CRASH_BEFORE_PUBLISH_RATE: z.coerce.number().min(0).max(1).default(0),
    FAULT_SEED: z.string().default('0'),
  })
  .refine((env) => present(env.DATABASE_URL) || present(env.CLOUD_SQL_INSTANCE), {
    ...always,
    path: ['DATABASE_URL'],
    message: 'required unless CLOUD_SQL_INSTANCE is set',
  })
  .refine((env) => !present(env.CLOUD_SQL_INSTANCE) || present(env.DB_USER), {
    ...always,
    path: ['DB_USER'],
    message: 'required with CLOUD_SQL_INSTANCE (the IAM database user)',
  })
  .refine((env) => !present(env.CLOUD_SQL_INSTANCE) || present(env.DB_NAME), {
    ...always,
    path: ['DB_NAME'],
    message: 'required with CLOUD_SQL_INSTANCE',
  });

/**
 * Whether this process runs on Cloud Run (functions 2nd gen are Cloud Run services): the
 * platform sets `K_SERVICE`. What must never run in production (the development issuer, the
 * sandbox payment provider) is refused there.
 */
export function runsOnCloudRun(env: { K_SERVICE?: unknown }): boolean {
  return present(env.K_SERVICE);
}

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
  // In the schema's order of settings, checks across settings (refinements) included.
  const keys = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  const rank = (issue: z.core.$ZodIssue) => {
    const index = keys.indexOf(String(issue.path[0]));
    return index < 0 ? keys.length : index;
  };
  const problems = result.error.issues
    .toSorted((a, b) => rank(a) - rank(b))
    .map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}
