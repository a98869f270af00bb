import type { DeployConfig } from './deploy-config';
import { type FunctionName, functions } from './deployed-functions';
import { functionSizing } from './function-sizing';

/** One gcloud invocation. */
export interface Step {
  argv: string[];
}

/** The service account id of a function: `fn-<name>`, kept within IAM's 6 to 30 characters. */
export function serviceAccountId(name: FunctionName): string {
  return `fn-${name}`.slice(0, 30).replace(/-+$/, '');
}

export function serviceAccountEmail(name: FunctionName, project: string): string {
  return `${serviceAccountId(name)}@${project}.iam.gserviceaccount.com`;
}

/** The account Cloud Build builds every function as (infra/build.tf). */
export function buildServiceAccount(project: string): string {
  return `projects/${project}/serviceAccounts/functions-builder@${project}.iam.gserviceaccount.com`;
}

/** The repository of the functions' images (infra/build.tf). */
export function dockerRepository(config: DeployConfig): string {
  return `projects/${config.project}/locations/${config.region}/repositories/functions`;
}

/**
 * The payment provider's API key: the Secret Manager secret infra/secrets.tf declares (only
 * payment-handler's account may read it), mounted as this environment variable.
 */
export const stripeSecret = { id: 'stripe-secret-key', variable: 'STRIPE_SECRET_KEY' } as const;

/** What the command line adds to the deploy configuration. */
export interface PlanOptions {
  /** `--test-project`: the project being deployed is a test project, where sandbox may run. */
  testProject?: string | undefined;
}

/** The deploy refuses to plan a payment provider setting that could go live by mistake. */
export class PaymentProviderRefusedError extends Error {
  override readonly name = 'PaymentProviderRefusedError';
}

function checkPaymentProvider(config: DeployConfig, options: PlanOptions): void {
  const { testProject } = options;
  if (config.PAYMENT_PROVIDER === 'stripe') {
    if (testProject !== undefined) {
      throw new PaymentProviderRefusedError(
        '--test-project only goes with PAYMENT_PROVIDER=sandbox: stripe needs no test project',
      );
    }
    return;
  }
  if (testProject === undefined) {
    throw new PaymentProviderRefusedError(
      `PAYMENT_PROVIDER=sandbox charges no one: the deploy refuses it unless --test-project ${config.project} names the project being deployed as a test project`,
    );
  }
  if (testProject !== config.project) {
    throw new PaymentProviderRefusedError(
      `--test-project ${testProject} is not the project being deployed (${config.project}): sandbox is refused`,
    );
  }
}

/** Every function but the analytics loader (BigQuery only) works on PostgreSQL. */
export const usesDatabase = (name: FunctionName): boolean => name !== 'analytics-loader';

/** The production environment of a function: settings only, never a secret. */
export function functionEnvironment(
  name: FunctionName,
  config: DeployConfig,
  options: PlanOptions = {},
): Record<string, string> {
  const env: Record<string, string> = {
    GOOGLE_CLOUD_PROJECT: config.project,
    LOG_LEVEL: config.LOG_LEVEL,
  };
  if (config.LEGACY_CURRENCY) env.LEGACY_CURRENCY = config.LEGACY_CURRENCY;
  if (config.OTEL_TRACES) {
    env.OTEL_TRACES = config.OTEL_TRACES;
    if (config.OTEL_TRACES === 'on') env.OTEL_SERVICE_NAME = name;
  }
  if (!usesDatabase(name)) {
    env.WAREHOUSE = 'bigquery';
    env.BIGQUERY_DATASET = config.BIGQUERY_DATASET;
    if (config.BIGQUERY_LOCATION) env.BIGQUERY_LOCATION = config.BIGQUERY_LOCATION;
    return env;
  }
  // IAM database authentication: the service account's database user drops `.gserviceaccount.com`.
  env.CLOUD_SQL_INSTANCE = config.CLOUD_SQL_INSTANCE;
  env.DB_USER = `${serviceAccountId(name)}@${config.project}.iam`;
  env.DB_NAME = config.DB_NAME;
  env.DB_POOL_SIZE = '5';
  if (name === 'place-order') {
    env.AUTH_ISSUER = config.AUTH_ISSUER;
    env.AUTH_AUDIENCE = config.AUTH_AUDIENCE;
    env.AUTH_JWKS_URL = config.AUTH_JWKS_URL;
  }
  if (name === 'housekeeping') Object.assign(env, config.housekeeping);
  if (name === 'payment-handler') {
    env.PAYMENT_PROVIDER = config.PAYMENT_PROVIDER;
    if (config.PAYMENT_PROVIDER === 'sandbox' && options.testProject) {
      env.SANDBOX_TEST_PROJECT = options.testProject;
    }
  }
  return env;
}

/** payment-handler's secrets: the provider's key with stripe; none (and none left) with sandbox. */
function secretFlags(name: FunctionName, config: DeployConfig): string[] {
  if (name !== 'payment-handler') return [];
  return config.PAYMENT_PROVIDER === 'stripe'
    ? [`--set-secrets=${stripeSecret.variable}=${stripeSecret.id}:latest`]
    : ['--clear-secrets'];
}

/**
 * Deploys one function as its own service account, built by the build account. Every function
 * is an HTTP function; who may invoke it is Terraform's, never the deploy's: a consumer takes
 * internal traffic only, from its push subscription (infra/pubsub.tf) pushing as its own
 * account, which alone may invoke it; place-order, from its end users (whose tokens it
 * verifies) or a gateway (infra/intake.tf).
 */
export function deploySteps(
  name: FunctionName,
  config: DeployConfig,
  options: PlanOptions = {},
): Step[] {
  const { entryPoint, trigger } = functions[name];
  const sizing = {
    ...functionSizing[name],
    ...(config.DEPLOY_MEMORY && { memory: config.DEPLOY_MEMORY }),
    ...(config.DEPLOY_TIMEOUT_SECONDS && { timeoutSeconds: config.DEPLOY_TIMEOUT_SECONDS }),
    ...(config.DEPLOY_MIN_INSTANCES !== undefined && { minInstances: config.DEPLOY_MIN_INSTANCES }),
    ...(config.DEPLOY_MAX_INSTANCES && { maxInstances: config.DEPLOY_MAX_INSTANCES }),
  };
  const env = Object.entries(functionEnvironment(name, config, options))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const ingress = trigger.kind === 'http' ? config.DEPLOY_HTTP_INGRESS : 'internal-only';
  return [
    {
      argv: [
        'gcloud',
        'functions',
        'deploy',
        name,
        '--gen2',
        '--runtime=nodejs24',
        `--region=${config.region}`,
        `--project=${config.project}`,
        `--source=functions/${name}/artifact`,
        `--entry-point=${entryPoint}`,
        `--service-account=${serviceAccountEmail(name, config.project)}`,
        `--build-service-account=${buildServiceAccount(config.project)}`,
        `--docker-repository=${dockerRepository(config)}`,
        '--trigger-http',
        `--ingress-settings=${ingress}`,
        `--memory=${sizing.memory}`,
        `--timeout=${sizing.timeoutSeconds}s`,
        `--min-instances=${sizing.minInstances}`,
        `--max-instances=${sizing.maxInstances}`,
        ...(usesDatabase(name)
          ? [
              `--vpc-connector=${config.DEPLOY_VPC_CONNECTOR}`,
              '--egress-settings=private-ranges-only',
            ]
          : []),
        `--set-env-vars=${env}`,
        ...secretFlags(name, config),
        '--quiet',
      ],
    },
  ];
}

/** Every step for the named functions, in order; refuses a payment provider setting first. */
export function deployPlan(
  names: readonly FunctionName[],
  config: DeployConfig,
  options: PlanOptions = {},
): Step[] {
  checkPaymentProvider(config, options);
  return names.flatMap((name) => deploySteps(name, config, options));
}

/** A step as one shell line, every argument quoted for the shell where it needs to be. */
export function formatStep(step: Step): string {
  return step.argv.map(shellQuote).join(' ');
}

function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
