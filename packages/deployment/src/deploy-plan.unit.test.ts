import { describe, expect, it } from '@jest/globals';
import { topics } from '@orders/events';
import { UsageError } from '@orders/platform';
import { parseDeployArgs } from './deploy-args';
import { parseDeployConfig } from './deploy-config';
import {
  deployPlan,
  deploySteps,
  formatStep,
  functionEnvironment,
  PaymentProviderRefusedError,
  SizingRefusedError,
  serviceAccountId,
} from './deploy-plan';
import { type FunctionName, functions } from './deployed-functions';
import { databaseConnections, functionConnectionBudget, functionSizing } from './function-sizing';

const env = {
  DEPLOY_PROJECT: 'my-project',
  DEPLOY_REGION: 'europe-west1',
  CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
  DEPLOY_VPC_CONNECTOR: 'orders-functions',
  PAYMENT_PROVIDER: 'stripe',
  AUTH_ISSUER: 'https://securetoken.google.com/my-project',
  AUTH_AUDIENCE: 'my-project',
  AUTH_JWKS_URL:
    'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
};
const config = parseDeployConfig(env);
const sandbox = parseDeployConfig({ ...env, PAYMENT_PROVIDER: 'sandbox' });
const names = Object.keys(functions) as FunctionName[];

describe('deploySteps', () => {
  it('gives each function its own valid service account id', () => {
    const ids = names.map(serviceAccountId);
    expect(new Set(ids).size).toBe(names.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
  });

  it('deploys a consumer internal only, authenticated, as its own account, built by the build account', () => {
    const [deploy] = deploySteps('payment-handler', config);
    expect(deploy?.argv).toEqual(
      expect.arrayContaining([
        '--trigger-http',
        '--ingress-settings=internal-only',
        '--service-account=fn-payment-handler@my-project.iam.gserviceaccount.com',
        '--build-service-account=projects/my-project/serviceAccounts/functions-builder@my-project.iam.gserviceaccount.com',
        '--docker-repository=projects/my-project/locations/europe-west1/repositories/functions',
        '--entry-point=handlePayment',
      ]),
    );
    // Its push subscription is Terraform's (infra/pubsub.tf): no Eventarc trigger, no retry flag.
    expect(deploy?.argv.some((arg) => arg.startsWith('--trigger-topic'))).toBe(false);
    expect(deploy?.argv).not.toContain('--retry');
  });

  it('deploys each function in one gcloud command, and nothing that needs Pub/Sub or IAM rights', () => {
    const plan = deployPlan(names, config);
    expect(plan.map((step) => step.argv.slice(0, 4))).toEqual(
      names.map((name) => ['gcloud', 'functions', 'deploy', name]),
    );
  });

  it('keeps each consumer within its ack deadline, so Pub/Sub never redelivers a running one', () => {
    for (const name of names) {
      const { trigger } = functions[name];
      if (trigger.kind !== 'topic') continue;
      expect(functionSizing[name].timeoutSeconds).toBeLessThanOrEqual(
        topics[trigger.topic].delivery.ackDeadlineSeconds,
      );
    }
  });

  it('reaches Cloud SQL through the VPC connector, except from the BigQuery-only loader', () => {
    const vpc = ['--vpc-connector=orders-functions', '--egress-settings=private-ranges-only'];
    expect(deploySteps('housekeeping', config)[0]?.argv).toEqual(expect.arrayContaining(vpc));
    expect(deploySteps('analytics-loader', config)[0]?.argv).not.toContain(vpc[0]);
  });

  it('applies overrides of the declared sizing', () => {
    const overridden = parseDeployConfig({
      ...env,
      DEPLOY_MEMORY: '1Gi',
      DEPLOY_MIN_INSTANCES: '0',
      DEPLOY_MAX_INSTANCES: '3',
      DEPLOY_HTTP_INGRESS: 'internal-and-gclb',
    });
    expect(deploySteps('place-order', overridden)[0]?.argv).toEqual(
      expect.arrayContaining([
        '--memory=1Gi',
        '--min-instances=0',
        '--max-instances=3',
        '--timeout=30s',
        '--ingress-settings=internal-and-gclb',
      ]),
    );
  });
});

describe('instances and connections', () => {
  const flag = (name: FunctionName, cfg = config, prefix = '--') =>
    deploySteps(name, cfg)[0]?.argv.find((arg) => arg.startsWith(prefix));
  const poolOf = (name: FunctionName, cfg = config) => functionEnvironment(name, cfg).DB_POOL_SIZE;

  it('passes each function its declared --cpu, --concurrency and DB_POOL_SIZE', () => {
    for (const name of names) {
      const { cpu, concurrency, dbPoolSize } = functionSizing[name];
      expect(flag(name, config, '--cpu=')).toBe(`--cpu=${cpu}`);
      expect(flag(name, config, '--concurrency=')).toBe(`--concurrency=${concurrency}`);
      expect(poolOf(name)).toBe(name === 'analytics-loader' ? undefined : String(dbPoolSize));
    }
  });

  it('declares what Cloud Run functions accepts: a concurrency above 1 only with 1 vCPU or more', () => {
    for (const name of names) {
      const { cpu, concurrency } = functionSizing[name];
      expect({ name, ok: concurrency === 1 || Number(cpu) >= 1 }).toEqual({ name, ok: true });
    }
    // payment-handler holds a connection through each provider call (docs/payments.md): a
    // request beyond its pool would wait inside the instance instead of Cloud Run scaling out.
    const payments = functionSizing['payment-handler'];
    expect(payments.concurrency).toBeLessThanOrEqual(payments.dbPoolSize);
  });

  it("keeps every pool of every instance, with the sandbox's second pool, within the budget", () => {
    const { maxConnections, superuserReserved, headroom, tier } = databaseConnections;
    expect(tier).toBe('db-custom-1-3840');
    expect(functionConnectionBudget).toBe(maxConnections - superuserReserved - headroom);
    expect(headroom).toBeGreaterThanOrEqual(10);
    const pools = names.map((name) => {
      const { maxInstances, dbPoolSize } = functionSizing[name];
      return maxInstances * dbPoolSize * (name === 'payment-handler' ? 2 : 1);
    });
    expect(pools.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(functionConnectionBudget);
    expect(() => deployPlan(names, sandbox, { testProject: 'my-project' })).not.toThrow();
  });

  it('applies DEPLOY_CPU, DEPLOY_CONCURRENCY and DEPLOY_DB_POOL_SIZE to the functions of the run', () => {
    const overridden = parseDeployConfig({
      ...env,
      DEPLOY_CPU: '2',
      DEPLOY_CONCURRENCY: '4',
      DEPLOY_DB_POOL_SIZE: '2',
    });
    expect(flag('process-order', overridden, '--cpu=')).toBe('--cpu=2');
    expect(flag('process-order', overridden, '--concurrency=')).toBe('--concurrency=4');
    expect(poolOf('process-order', overridden)).toBe('2');
    expect(poolOf('analytics-loader', overridden)).toBeUndefined();
    expect(() => parseDeployConfig({ ...env, DEPLOY_CPU: '3' })).toThrow(/DEPLOY_CPU: /);
    expect(() => parseDeployConfig({ ...env, DEPLOY_CPU: '0.05' })).toThrow(
      /DEPLOY_CPU: at least 0.083/,
    );
    expect(() => parseDeployConfig({ ...env, DEPLOY_DB_POOL_SIZE: '0' })).toThrow(
      /DEPLOY_DB_POOL_SIZE: /,
    );
  });

  it('refuses a concurrency above 1 below one vCPU, before anything is built', () => {
    const fractional = parseDeployConfig({ ...env, DEPLOY_CPU: '0.583' });
    expect(() => deployPlan(['place-order'], fractional)).toThrow(SizingRefusedError);
    expect(() => deployPlan(['place-order'], fractional)).toThrow(
      `place-order: --concurrency=${functionSizing['place-order'].concurrency} needs --cpu of 1 or more (Cloud Run functions serves one request at a time below 1 vCPU), not 0.583: set DEPLOY_CPU or DEPLOY_CONCURRENCY=1`,
    );
    const oneAtATime = parseDeployConfig({ ...env, DEPLOY_CPU: '0.583', DEPLOY_CONCURRENCY: '1' });
    expect(flag('place-order', oneAtATime, '--concurrency=')).toBe('--concurrency=1');
    expect(() => deployPlan(['place-order'], oneAtATime)).not.toThrow();
  });

  it('refuses overrides that could open more connections than the database leaves the functions', () => {
    // 1000 instances of any database function, each with its pool, is over any budget here.
    const many = parseDeployConfig({ ...env, DEPLOY_MAX_INSTANCES: '1000' });
    expect(() => deployPlan(['process-order'], many)).toThrow(SizingRefusedError);
    expect(() => deployPlan(['process-order'], many)).toThrow(
      new RegExp(
        `^the functions could open \\d+ database connections \\(max instances x connections each: place-order ${functionSizing['place-order'].maxInstances} x ${functionSizing['place-order'].dbPoolSize}, process-order 1000 x ${functionSizing['process-order'].dbPoolSize}, .*\\), more than the ${functionConnectionBudget} that db-custom-1-3840 leaves them \\(max_connections 100, less 3 reserved for superusers and ${databaseConnections.headroom} for migrations, operators and a deploy's overlap\\): lower DEPLOY_MAX_INSTANCES or DEPLOY_DB_POOL_SIZE`,
      ),
    );
    // The loader holds no connection: any number of its instances is fine.
    expect(() => deployPlan(['analytics-loader'], many)).not.toThrow();
    const bigPools = parseDeployConfig({ ...env, DEPLOY_DB_POOL_SIZE: '50' });
    expect(() => deployPlan(['place-order'], bigPools)).toThrow(/DEPLOY_DB_POOL_SIZE/);
  });

  it("counts the sandbox's second pool in payment-handler's connections", () => {
    // The most instances of payment-handler that fit with stripe, then with the sandbox.
    const othersUse = names
      .filter((name) => name !== 'payment-handler')
      .reduce(
        (sum, name) => sum + functionSizing[name].maxInstances * functionSizing[name].dbPoolSize,
        0,
      );
    const pool = functionSizing['payment-handler'].dbPoolSize;
    const fitting = Math.floor((functionConnectionBudget - othersUse) / pool);
    const sized = (instances: number, provider: string) =>
      parseDeployConfig({
        ...env,
        PAYMENT_PROVIDER: provider,
        DEPLOY_MAX_INSTANCES: String(instances),
      });
    expect(() => deployPlan(['payment-handler'], sized(fitting, 'stripe'))).not.toThrow();
    expect(() => deployPlan(['payment-handler'], sized(fitting + 1, 'stripe'))).toThrow(
      SizingRefusedError,
    );
    const sandboxFitting = Math.floor((functionConnectionBudget - othersUse) / (2 * pool));
    const testProject = { testProject: 'my-project' };
    expect(() =>
      deployPlan(['payment-handler'], sized(sandboxFitting, 'sandbox'), testProject),
    ).not.toThrow();
    expect(() =>
      deployPlan(['payment-handler'], sized(sandboxFitting + 1, 'sandbox'), testProject),
    ).toThrow(/payment-handler \d+ x \d+/);
  });
});

describe("the intake's end users", () => {
  it('gives place-order the issuer it trusts, and leaves who may invoke a function to Terraform', () => {
    expect(functionEnvironment('place-order', config)).toMatchObject({
      AUTH_ISSUER: env.AUTH_ISSUER,
      AUTH_AUDIENCE: 'my-project',
      AUTH_JWKS_URL: env.AUTH_JWKS_URL,
    });
    for (const name of names.filter((name) => name !== 'place-order')) {
      expect(functionEnvironment(name, config)).not.toHaveProperty('AUTH_ISSUER');
    }
    // Who may invoke a function is Terraform's (infra/intake.tf, infra/pubsub.tf): the
    // deployer holds no right to set it.
    for (const name of names) {
      expect(
        deploySteps(name, config)[0]?.argv.filter((arg) => /unauthenticated/.test(arg)),
      ).toEqual([]);
    }
  });

  it('refuses to deploy without an issuer, or with the development issuer or any issuer not on https', () => {
    const { AUTH_ISSUER: _, ...without } = env;
    expect(() => parseDeployConfig(without)).toThrow(/AUTH_ISSUER/);
    for (const url of [
      'http://127.0.0.1:40121',
      'https://localhost:8443',
      'http://issuer.example',
    ]) {
      expect(() => parseDeployConfig({ ...env, AUTH_ISSUER: url })).toThrow(/AUTH_ISSUER: /);
      expect(() =>
        parseDeployConfig({ ...env, AUTH_JWKS_URL: `${url}/.well-known/jwks.json` }),
      ).toThrow(/AUTH_JWKS_URL: /);
    }
    expect(() => parseDeployConfig({ ...env, AUTH_JWKS_URL: 'https://keys.example/a,b' })).toThrow(
      /AUTH_JWKS_URL: must not contain a comma/,
    );
  });
});

describe('the payment provider', () => {
  it('mounts the stripe key from Secret Manager into payment-handler, and into no other function', () => {
    const [deploy] = deploySteps('payment-handler', config);
    expect(deploy?.argv).toContain('--set-secrets=STRIPE_SECRET_KEY=stripe-secret-key:latest');
    expect(functionEnvironment('payment-handler', config)).toMatchObject({
      PAYMENT_PROVIDER: 'stripe',
    });
    expect(functionEnvironment('payment-handler', config)).not.toHaveProperty(
      'SANDBOX_TEST_PROJECT',
    );
    for (const name of names.filter((name) => name !== 'payment-handler')) {
      const argv = deploySteps(name, config)[0]?.argv ?? [];
      expect(argv.filter((arg) => arg.includes('secret'))).toEqual([]);
      expect(functionEnvironment(name, config)).not.toHaveProperty('PAYMENT_PROVIDER');
    }
  });

  it('has no default: the deploy refuses to plan without it', () => {
    const { PAYMENT_PROVIDER: _, ...without } = env;
    expect(() => parseDeployConfig(without)).toThrow(
      'PAYMENT_PROVIDER: required: stripe, or sandbox for a test project (no default)',
    );
    expect(() => parseDeployConfig({ ...env, PAYMENT_PROVIDER: 'paypal' })).toThrow(
      /PAYMENT_PROVIDER: required/,
    );
  });

  it('refuses sandbox unless --test-project names the project being deployed', () => {
    expect(() => deployPlan(['payment-handler'], sandbox)).toThrow(PaymentProviderRefusedError);
    expect(() => deployPlan(['place-order'], sandbox)).toThrow(
      'PAYMENT_PROVIDER=sandbox charges no one: the deploy refuses it unless --test-project my-project names the project being deployed as a test project',
    );
    expect(() =>
      deployPlan(['payment-handler'], sandbox, { testProject: 'other-project' }),
    ).toThrow(
      '--test-project other-project is not the project being deployed (my-project): sandbox is refused',
    );
    expect(() => deployPlan(['payment-handler'], config, { testProject: 'my-project' })).toThrow(
      '--test-project only goes with PAYMENT_PROVIDER=sandbox',
    );
  });

  it('with sandbox in a test project, tells payment-handler so and mounts no secret', () => {
    const [deploy] = deployPlan(['payment-handler'], sandbox, { testProject: 'my-project' });
    expect(deploy?.argv).toContain('--clear-secrets');
    expect(deploy?.argv.some((arg) => arg.startsWith('--set-secrets'))).toBe(false);
    expect(
      functionEnvironment('payment-handler', sandbox, { testProject: 'my-project' }),
    ).toMatchObject({ PAYMENT_PROVIDER: 'sandbox', SANDBOX_TEST_PROJECT: 'my-project' });
  });
});

describe('functionEnvironment', () => {
  it('connects database functions to Cloud SQL as their IAM user, with no secret', () => {
    expect(functionEnvironment('process-order', config)).toEqual({
      GOOGLE_CLOUD_PROJECT: 'my-project',
      LOG_LEVEL: 'info',
      CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
      DB_USER: 'fn-process-order@my-project.iam',
      DB_NAME: 'orders',
      DB_POOL_SIZE: String(functionSizing['process-order'].dbPoolSize),
    });
  });

  it('points the analytics loader at BigQuery', () => {
    expect(functionEnvironment('analytics-loader', config)).toEqual({
      GOOGLE_CLOUD_PROJECT: 'my-project',
      LOG_LEVEL: 'info',
      WAREHOUSE: 'bigquery',
      BIGQUERY_DATASET: 'orders',
    });
  });

  it('passes on the currency of legacy OrderPlaced events when it is set', () => {
    const withCurrency = { ...config, LEGACY_CURRENCY: 'EUR' };
    for (const name of names) {
      expect(functionEnvironment(name, withCurrency)).toMatchObject({ LEGACY_CURRENCY: 'EUR' });
    }
    expect(functionEnvironment('process-order', config)).not.toHaveProperty('LEGACY_CURRENCY');
  });

  it('never carries the emulator or a database URL', () => {
    for (const name of names) {
      const env = functionEnvironment(name, config);
      expect(Object.keys(env)).not.toContain('PUBSUB_EMULATOR_HOST');
      expect(Object.keys(env)).not.toContain('DATABASE_URL');
    }
  });
});

describe('formatStep', () => {
  it('quotes for the shell: nothing in an argument is expanded', () => {
    expect(
      formatStep({ argv: ['gcloud', 'x', "it's", '--f=value(a)', '$SUB', '--m=a-$(id)@b'] }),
    ).toBe(`gcloud x 'it'\\''s' '--f=value(a)' '$SUB' '--m=a-$(id)@b'`);
  });
});

describe('parseDeployArgs', () => {
  it('reads names or --all, --dry-run and --test-project', () => {
    expect(parseDeployArgs(['--all', '--dry-run'])).toEqual({ names, dryRun: 'script' });
    expect(parseDeployArgs(['--all', '--plan-json'])).toEqual({ names, dryRun: 'json' });
    expect(parseDeployArgs(['housekeeping', 'place-order', 'housekeeping'])).toEqual({
      names: ['housekeeping', 'place-order'],
      dryRun: false,
    });
    expect(parseDeployArgs(['--test-project', 'my-test', 'payment-handler'])).toEqual({
      names: ['payment-handler'],
      dryRun: false,
      testProject: 'my-test',
    });
    expect(parseDeployArgs(['--all', '--test-project=my-test'])).toMatchObject({
      testProject: 'my-test',
    });
  });

  it('refuses what it does not understand', () => {
    expect(() => parseDeployArgs([])).toThrow(UsageError);
    expect(() => parseDeployArgs(['--al'])).toThrow('unknown option --al');
    expect(() => parseDeployArgs(['--all', 'place-order'])).toThrow('not both');
    expect(() => parseDeployArgs(['--all', '--dry-run', '--plan-json'])).toThrow('not both');
    expect(() => parseDeployArgs(['--all', '--test-project'])).toThrow(
      '--test-project needs the project being deployed',
    );
  });
});

describe('parseDeployConfig', () => {
  it('falls back to GOOGLE_CLOUD_PROJECT and defaults the rest', () => {
    expect(
      parseDeployConfig({
        GOOGLE_CLOUD_PROJECT: 'other-project',
        DEPLOY_REGION: 'us-central1',
        CLOUD_SQL_INSTANCE: 'other-project:us-central1:orders',
        DEPLOY_VPC_CONNECTOR: 'orders-functions',
        PAYMENT_PROVIDER: 'stripe',
        AUTH_ISSUER: env.AUTH_ISSUER,
        AUTH_AUDIENCE: env.AUTH_AUDIENCE,
        AUTH_JWKS_URL: env.AUTH_JWKS_URL,
      }),
    ).toMatchObject({
      project: 'other-project',
      region: 'us-central1',
      DB_NAME: 'orders',
    });
  });

  it('refuses a value that would break --set-env-vars', () => {
    expect(() => parseDeployConfig({ ...env, DB_NAME: 'a,b' })).toThrow(
      /DB_NAME: must not contain a comma/,
    );
  });
});

describe('functionEnvironment: tracing and housekeeping settings', () => {
  it('passes OTEL_TRACES to every function when set, naming each function its service', () => {
    for (const name of names) {
      expect(functionEnvironment(name, config)).not.toHaveProperty('OTEL_TRACES');
      expect(functionEnvironment(name, config)).not.toHaveProperty('OTEL_SERVICE_NAME');
    }
    const on = parseDeployConfig({ ...env, OTEL_TRACES: 'on' });
    for (const name of names) {
      expect(functionEnvironment(name, on)).toMatchObject({
        OTEL_TRACES: 'on',
        OTEL_SERVICE_NAME: name,
      });
    }
    const off = parseDeployConfig({ ...env, OTEL_TRACES: 'off' });
    expect(functionEnvironment('process-order', off).OTEL_TRACES).toBe('off');
    expect(functionEnvironment('process-order', off)).not.toHaveProperty('OTEL_SERVICE_NAME');
    expect(() => parseDeployConfig({ ...env, OTEL_TRACES: 'yes' })).toThrow(/OTEL_TRACES: /);
  });

  it("passes housekeeping the settings the deploy sets, to housekeeping only, and leaves the rest to the function's defaults", () => {
    const set = parseDeployConfig({
      ...env,
      RETENTION_PROCESSED_EVENTS_DAYS: '45',
      RETENTION_SENT_OUTBOX_DAYS: '1.5',
      SAGA_OVERDUE_SECONDS: '600',
      GAUGE_INTERVAL_SECONDS: '0',
    });
    const housekeeping = functionEnvironment('housekeeping', set);
    expect(housekeeping).toMatchObject({
      RETENTION_PROCESSED_EVENTS_DAYS: '45',
      RETENTION_SENT_OUTBOX_DAYS: '1.5',
      SAGA_OVERDUE_SECONDS: '600',
      GAUGE_INTERVAL_SECONDS: '0',
    });
    for (const unset of [
      'RETENTION_SAGA_HISTORY_DAYS',
      'RETENTION_MAX_ROWS',
      'STALLED_ORDER_SECONDS',
    ]) {
      expect(housekeeping).not.toHaveProperty(unset);
    }
    for (const name of names.filter((name) => name !== 'housekeeping')) {
      expect(functionEnvironment(name, set)).not.toHaveProperty('SAGA_OVERDUE_SECONDS');
      expect(functionEnvironment(name, set)).not.toHaveProperty('RETENTION_SENT_OUTBOX_DAYS');
    }
    expect(deploySteps('housekeeping', set)[0]?.argv).toContainEqual(
      expect.stringMatching(/^--set-env-vars=.*,RETENTION_PROCESSED_EVENTS_DAYS=45,/),
    );
  });

  it("refuses a housekeeping setting the function would refuse, by housekeeping's own rules", () => {
    expect(() => parseDeployConfig({ ...env, RETENTION_PROCESSED_EVENTS_DAYS: '7' })).toThrow(
      /RETENTION_PROCESSED_EVENTS_DAYS: must be at least 15 days/,
    );
    // A rule across settings, one of them left at its default (30 days).
    expect(() => parseDeployConfig({ ...env, RETENTION_SENT_OUTBOX_DAYS: '31' })).toThrow(
      /RETENTION_SENT_OUTBOX_DAYS: must not exceed RETENTION_PROCESSED_EVENTS_DAYS/,
    );
    expect(() => parseDeployConfig({ ...env, SAGA_OVERDUE_SECONDS: 'soon' })).toThrow(
      /SAGA_OVERDUE_SECONDS: /,
    );
    expect(() => parseDeployConfig({ ...env, GAUGE_INTERVAL_SECONDS: '-1' })).toThrow(
      /GAUGE_INTERVAL_SECONDS: /,
    );
  });
});
