import type { DeployConfig } from './deploy-config';
import { type FunctionName, functions } from './deployed-functions';
import {
  databaseConnections,
  functionConnectionBudget,
  functionSizing,
  type Sizing,
} from './function-sizing';

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

/**
 * A function's size as this deploy sets it: the declared sizing (function-sizing.ts) with the
 * `DEPLOY_*` overrides of the run applied. A function without a database has no pool.
 */
function sizingOf(name: FunctionName, config: DeployConfig): Sizing {
  const declared = functionSizing[name];
  return {
    memory: config.DEPLOY_MEMORY ?? declared.memory,
    cpu: config.DEPLOY_CPU ?? declared.cpu,
    concurrency: config.DEPLOY_CONCURRENCY ?? declared.concurrency,
    timeoutSeconds: config.DEPLOY_TIMEOUT_SECONDS ?? declared.timeoutSeconds,
    minInstances: config.DEPLOY_MIN_INSTANCES ?? declared.minInstances,
    maxInstances: config.DEPLOY_MAX_INSTANCES ?? declared.maxInstances,
    dbPoolSize: usesDatabase(name) ? (config.DEPLOY_DB_POOL_SIZE ?? declared.dbPoolSize) : 0,
  };
}

/** The deploy refuses a size Cloud Run would refuse, or one the database could not serve. */
export class SizingRefusedError extends Error {
  override readonly name = 'SizingRefusedError';
}

/**
 * Connections one instance of `name` may open: its pool, and with the sandbox provider a
 * second pool of the same size for the sandbox's ledger (payment-handler, docs/payments.md).
 */
function connectionsPerInstance(name: FunctionName, sizing: Sizing, config: DeployConfig): number {
  const pools = name === 'payment-handler' && config.PAYMENT_PROVIDER === 'sandbox' ? 2 : 1;
  return pools * sizing.dbPoolSize;
}

/**
 * Refuses a concurrency above 1 below one vCPU (Cloud Run functions refuses it too, after the
 * build), and a sizing whose pools could together hold more connections than the database
 * leaves the functions (`functionConnectionBudget`): max instances x connections per
 * instance, summed over every function, those of this run as it sizes them, the others as
 * declared (what a deploy of them would set).
 */
function checkSizing(names: readonly FunctionName[], config: DeployConfig): void {
  for (const name of names) {
    const { cpu, concurrency } = sizingOf(name, config);
    if (concurrency > 1 && Number(cpu) < 1) {
      throw new SizingRefusedError(
        `${name}: --concurrency=${concurrency} needs --cpu of 1 or more (Cloud Run functions serves one request at a time below 1 vCPU), not ${cpu}: set DEPLOY_CPU or DEPLOY_CONCURRENCY=1`,
      );
    }
  }
  const terms = (Object.keys(functions) as FunctionName[]).filter(usesDatabase).map((name) => {
    const sizing = names.includes(name) ? sizingOf(name, config) : functionSizing[name];
    const each = connectionsPerInstance(name, sizing, config);
    return {
      name,
      connections: sizing.maxInstances * each,
      text: `${name} ${sizing.maxInstances} x ${each}`,
    };
  });
  const total = terms.reduce((sum, term) => sum + term.connections, 0);
  if (total > functionConnectionBudget) {
    const { tier, maxConnections, superuserReserved, headroom } = databaseConnections;
    throw new SizingRefusedError(
      `the functions could open ${total} database connections (max instances x connections each: ${terms.map((term) => term.text).join(', ')}), more than the ${functionConnectionBudget} that ${tier} leaves them (max_connections ${maxConnections}, less ${superuserReserved} reserved for superusers and ${headroom} for migrations, operators and a deploy's overlap): lower DEPLOY_MAX_INSTANCES or DEPLOY_DB_POOL_SIZE, or raise the tier and databaseConnections with it`,
    );
  }
}

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
  env.DB_POOL_SIZE = String(sizingOf(name, config).dbPoolSize);
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
  const sizing = sizingOf(name, config);
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
        `--cpu=${sizing.cpu}`,
        `--concurrency=${sizing.concurrency}`,
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

/**
 * Every step for the named functions, in order; refuses a payment provider setting or a
 * sizing first.
 */
export function deployPlan(
  names: readonly FunctionName[],
  config: DeployConfig,
  options: PlanOptions = {},
): Step[] {
  checkPaymentProvider(config, options);
  checkSizing(names, config);
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
