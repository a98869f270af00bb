import {
  always,
  databaseConfigSchema,
  parseConfig,
  present,
  runsOnCloudRun,
} from '@orders/runtime';
import { z } from 'zod';

const rate = z.coerce.number().min(0).max(1);

const schema = databaseConfigSchema
  .extend({
    /**
     * The payment provider: `sandbox` (pays nothing: local runs, tests, test projects) or
     * `stripe`. Required on Cloud Run functions; locally it defaults to `sandbox`.
     */
    PAYMENT_PROVIDER: z.enum(['sandbox', 'stripe']).optional(),
    /** Set by Cloud Run functions (never by the local stack): the service's name. */
    K_SERVICE: z.string().optional(),
    /**
     * The project that its deployer named a test project (`pnpm run deploy --test-project`):
     * on Cloud Run functions, the sandbox runs only where it equals GOOGLE_CLOUD_PROJECT.
     */
    SANDBOX_TEST_PROJECT: z.string().optional(),
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
    /** Stripe's secret (or restricted) API key; in production from Secret Manager. */
    STRIPE_SECRET_KEY: z
      .string()
      .regex(/^(sk|rk)_(test|live)_\w+$/, 'expected a Stripe secret key (sk_live_..., sk_test_...)')
      .optional(),
    /** Another base URL for Stripe's API, for tests (a local double): http(s)://host[:port]. */
    STRIPE_API_URL: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * How long one Stripe request may take before it counts as lost (a transient error,
     * retried with the same idempotency key). Well under the 60 s ack deadline.
     */
    STRIPE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(30_000).default(10_000),
  })
  .refine((env) => !runsOnCloudRun(env) || env.PAYMENT_PROVIDER !== undefined, {
    ...always,
    path: ['PAYMENT_PROVIDER'],
    message:
      'required on Cloud Run functions (K_SERVICE is set): sandbox or stripe; there is no default in production',
  })
  .refine(
    (env) =>
      !runsOnCloudRun(env) ||
      env.PAYMENT_PROVIDER !== 'sandbox' ||
      env.SANDBOX_TEST_PROJECT === env.GOOGLE_CLOUD_PROJECT,
    {
      ...always,
      path: ['PAYMENT_PROVIDER'],
      message:
        'the sandbox provider pays nothing: on Cloud Run functions it runs only in a test project (SANDBOX_TEST_PROJECT equal to GOOGLE_CLOUD_PROJECT, set by pnpm run deploy --test-project)',
    },
  )
  .refine(
    (env) =>
      !runsOnCloudRun(env) ||
      env.STRIPE_API_URL === undefined ||
      env.STRIPE_API_URL.startsWith('https:'),
    {
      ...always,
      path: ['STRIPE_API_URL'],
      message: 'https only on Cloud Run functions: the secret key goes with every request',
    },
  )
  .refine((env) => env.PAYMENT_PROVIDER !== 'stripe' || present(env.STRIPE_SECRET_KEY), {
    ...always,
    path: ['STRIPE_SECRET_KEY'],
    message: 'required with PAYMENT_PROVIDER=stripe',
  });

type PaymentProviderName = 'sandbox' | 'stripe';

export type PaymentHandlerConfig = Omit<z.output<typeof schema>, 'PAYMENT_PROVIDER'> & {
  PAYMENT_PROVIDER: PaymentProviderName;
};

export function paymentHandlerConfig(
  env: Record<string, string | undefined> = process.env,
): PaymentHandlerConfig {
  const config = parseConfig(schema, env);
  // Unset only where K_SERVICE is not (checked above): a local run.
  return { ...config, PAYMENT_PROVIDER: config.PAYMENT_PROVIDER ?? 'sandbox' };
}
