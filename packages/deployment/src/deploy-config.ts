import {
  housekeepingSettingsSchema,
  productionIssuerProblem,
  projectIdPattern,
} from '@orders/platform';
import { z } from 'zod';

/** An issuer URL production may trust: https, and not this machine (the development issuer). */
const productionIssuerUrl = z.url().superRefine((url, context) => {
  const problem = url.includes(',') ? 'must not contain a comma' : productionIssuerProblem(url);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

const noComma = (field: z.ZodString) => field.regex(/^[^,]*$/, 'must not contain a comma');

/** Where and how `pnpm run deploy` deploys; read from the environment once. */
const deploySettings = z.object({
  DEPLOY_PROJECT: z.string().regex(projectIdPattern, 'a project id').optional(),
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  DEPLOY_REGION: z.string().regex(/^[a-z]+-[a-z]+[0-9]$/, 'a region such as europe-west1'),
  /** `project:region:instance` of the Cloud SQL for PostgreSQL instance. */
  CLOUD_SQL_INSTANCE: z
    .string()
    .regex(/^[a-z0-9.:-]+:[a-z0-9-]+:[a-z0-9-]+$/, 'expected project:region:instance'),
  /** Serverless VPC Access connector through which database functions reach Cloud SQL's private IP. */
  DEPLOY_VPC_CONNECTOR: z
    .string()
    .regex(/^[a-z0-9/-]+$/, 'a connector name or projects/<p>/locations/<r>/connectors/<name>'),
  DB_NAME: noComma(z.string().min(1)).default('orders'),
  BIGQUERY_DATASET: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,1024}$/, 'letters, digits and underscores')
    .default('orders'),
  BIGQUERY_LOCATION: noComma(z.string().min(1)).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /**
   * payment-handler's provider, with no default: `stripe` (its key from Secret Manager) or
   * `sandbox` (no money moves; the deploy takes it for a test project only).
   */
  PAYMENT_PROVIDER: z.enum(['stripe', 'sandbox'], {
    error: 'required: stripe, or sandbox for a test project (no default)',
  }),
  /** place-order's end-user identity: the issuer (`iss`) of the tokens it accepts. */
  AUTH_ISSUER: productionIssuerUrl,
  /** The audience (`aud`) the tokens are for (the project id with Identity Platform). */
  AUTH_AUDIENCE: noComma(z.string().min(1)),
  /** The issuer's public keys (a JWK Set URL). */
  AUTH_JWKS_URL: productionIssuerUrl,
  /** The currency of an OrderPlaced v1 that names none (producers of the Python reference). */
  LEGACY_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR')
    .optional(),
  /** place-order's ingress: `all` (IAM still required) or `internal-and-gclb` behind a load balancer. */
  DEPLOY_HTTP_INGRESS: z.enum(['all', 'internal-and-gclb', 'internal-only']).default('all'),
  /** Override the declared sizing of every function deployed in this run. */
  DEPLOY_MEMORY: z
    .string()
    .regex(/^[0-9]+(Mi|Gi)$/, 'such as 512Mi')
    .optional(),
  DEPLOY_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).optional(),
  DEPLOY_MIN_INSTANCES: z.coerce.number().int().min(0).max(1000).optional(),
  DEPLOY_MAX_INSTANCES: z.coerce.number().int().min(1).max(1000).optional(),
  /** vCPUs per instance: a fraction below 1 (0.083 and up), or 1, 2, 4, 6 or 8. */
  DEPLOY_CPU: z
    .string()
    .regex(/^(0\.[0-9]{1,3}|[12468])$/, 'such as 1, or a fraction such as 0.583')
    .refine((cpu) => Number(cpu) >= 0.083, 'at least 0.083')
    .optional(),
  /** Requests an instance serves at once (above 1 needs DEPLOY_CPU of 1 or more). */
  DEPLOY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  /** DB_POOL_SIZE of every database function deployed in this run (the connection budget holds). */
  DEPLOY_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).optional(),
  /**
   * Spans exported to Cloud Trace (`on`) or not (`off`, the functions' default): passed to
   * every function, with OTEL_SERVICE_NAME its name.
   */
  OTEL_TRACES: z.enum(['on', 'off']).optional(),
});

/**
 * The settings a deploy cannot do without (no default): whatever runs `pnpm run deploy` (the
 * deploy workflow) must give each of them.
 */
export const requiredDeploySettings: readonly string[] = Object.entries(deploySettings.shape)
  .filter(([, schema]) => !schema.safeParse(undefined).success)
  .map(([name]) => name);

const housekeepingSettingNames = Object.keys(housekeepingSettingsSchema.shape);

const deployConfigSchema = deploySettings
  // housekeeping's settings, checked by the schema the function reads them with.
  .and(housekeepingSettingsSchema)
  .refine((env) => env.DEPLOY_PROJECT ?? env.GOOGLE_CLOUD_PROJECT, {
    path: ['DEPLOY_PROJECT'],
    message: 'required (or GOOGLE_CLOUD_PROJECT)',
    when: () => true,
  })
  .transform(({ DEPLOY_PROJECT, GOOGLE_CLOUD_PROJECT, DEPLOY_REGION, ...rest }) => ({
    ...rest,
    project: DEPLOY_PROJECT ?? GOOGLE_CLOUD_PROJECT ?? '',
    region: DEPLOY_REGION,
  }));

export type DeployConfig = z.output<typeof deployConfigSchema> & {
  /** The housekeeping settings the deploy's environment sets, as read (the rest: defaults). */
  housekeeping: Record<string, string>;
};

export class DeployConfigError extends Error {
  override readonly name = 'DeployConfigError';
}

export function parseDeployConfig(env: Record<string, string | undefined>): DeployConfig {
  const result = deployConfigSchema.safeParse(env);
  if (result.success) {
    const read: Record<string, unknown> = result.data;
    const housekeeping = Object.fromEntries(
      housekeepingSettingNames
        .filter((name) => env[name] !== undefined)
        .map((name) => [name, String(read[name])]),
    );
    return { ...result.data, housekeeping };
  }
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new DeployConfigError(`invalid deploy configuration: ${problems.sort().join('; ')}`);
}
