import { productionIssuerProblem } from '@orders/platform';
import { ConfigError, databaseConfigSchema, parseConfig, runsOnCloudRun } from '@orders/runtime';
import { z } from 'zod';

const schema = databaseConfigSchema.extend({
  /** The issuer (`iss`) of the end users' tokens, e.g. `https://securetoken.google.com/<project>`. */
  AUTH_ISSUER: z.url(),
  /** The audience (`aud`) the tokens are for, e.g. the project id with Identity Platform. */
  AUTH_AUDIENCE: z.string().min(1),
  /** The issuer's public keys (a JWK Set URL). */
  AUTH_JWKS_URL: z.url({ protocol: /^https?$/ }),
  /** Most lines one order may have (the event schema allows 50). */
  MAX_ORDER_ITEMS: z.coerce.number().int().min(1).max(50).default(20),
  /** Most units one order may hold, all lines together (a line allows 1000). */
  MAX_ORDER_QUANTITY: z.coerce.number().int().min(1).max(50_000).default(100),
  /** Most orders one customer may have open (placed, not yet paid or cancelled). */
  MAX_OPEN_ORDERS_PER_CUSTOMER: z.coerce.number().int().min(1).default(10),
  /** The Retry-After of a 429 for too many open orders: about how long one stays open. */
  OPEN_ORDERS_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).default(60),
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

/** On Cloud Run, the issuer and its keys must be production's (https, another host). */
function developmentIssuerIn(config: PlaceOrderConfig): string[] {
  return (['AUTH_ISSUER', 'AUTH_JWKS_URL'] as const).flatMap((setting) => {
    const problem = productionIssuerProblem(config[setting]);
    return problem ? [`${setting}: ${problem} (on Cloud Run)`] : [];
  });
}

export function placeOrderConfig(
  env: Record<string, string | undefined> = process.env,
): PlaceOrderConfig {
  const config = parseConfig(schema, env);
  const refused = runsOnCloudRun(env) ? developmentIssuerIn(config) : [];
  if (refused.length > 0) throw new ConfigError(`invalid configuration: ${refused.join('; ')}`);
  return config;
}
