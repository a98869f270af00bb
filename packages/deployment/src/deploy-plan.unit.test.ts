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
  serviceAccountId,
} from './deploy-plan';
import { type FunctionName, functions } from './deployed-functions';
import { functionSizing } from './function-sizing';

const config = parseDeployConfig({
  DEPLOY_PROJECT: 'my-project',
  DEPLOY_REGION: 'europe-west1',
  CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
  DEPLOY_VPC_CONNECTOR: 'orders-functions',
});
const names = Object.keys(functions) as FunctionName[];

describe('deploySteps', () => {
  it('gives each function its own valid service account id', () => {
    const ids = names.map(serviceAccountId);
    expect(new Set(ids).size).toBe(names.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
  });

  it('deploys a consumer on its own topic, internal only, retried, as its own account', () => {
    const [deploy] = deploySteps('payment-handler', config);
    expect(deploy?.argv).toEqual(
      expect.arrayContaining([
        '--trigger-topic=payments',
        '--retry',
        '--ingress-settings=internal-only',
        '--no-allow-unauthenticated',
        '--service-account=fn-payment-handler@my-project.iam.gserviceaccount.com',
        '--trigger-service-account=fn-payment-handler@my-project.iam.gserviceaccount.com',
        '--entry-point=handlePayment',
      ]),
    );
    expect(deploy?.argv).not.toContain('--trigger-http');
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

  it('takes the delivery settings of the subscription from the topology', () => {
    const update = deploySteps('process-order', config).find((step) => step.argv[3] === 'update');
    const { delivery } = topics['order-saga'];
    expect(update?.argv).toEqual([
      'gcloud',
      'pubsub',
      'subscriptions',
      'update',
      '$SUBSCRIPTION_PROCESS_ORDER',
      '--project=my-project',
      '--dead-letter-topic=projects/my-project/topics/order-saga-dlq',
      `--max-delivery-attempts=${delivery.maxDeliveryAttempts}`,
      `--min-retry-delay=${delivery.minimumBackoffSeconds}s`,
      `--max-retry-delay=${delivery.maximumBackoffSeconds}s`,
      `--ack-deadline=${delivery.ackDeadlineSeconds}`,
    ]);
  });

  it('applies overrides of the declared sizing', () => {
    const overridden = parseDeployConfig({
      DEPLOY_PROJECT: 'my-project',
      DEPLOY_REGION: 'europe-west1',
      CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
      DEPLOY_VPC_CONNECTOR: 'orders-functions',
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

  it('asks for the project number only when a consumer is deployed', () => {
    expect(deployPlan(['place-order'], config)).toHaveLength(1);
    expect(deployPlan(['housekeeping'], config)[0]?.argv.slice(0, 3)).toEqual([
      'gcloud',
      'projects',
      'describe',
    ]);
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
      DB_POOL_SIZE: '5',
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
  it('quotes for the shell and leaves captured variables to it', () => {
    expect(
      formatStep({
        argv: ['gcloud', 'x', "it's", '--f=value(a)', '$SUB', '--m=a-$N@b'],
        capture: 'OUT',
      }),
    ).toBe(`OUT=$(gcloud x 'it'\\''s' '--f=value(a)' "$SUB" "--m=a-$N@b")`);
  });
});

describe('parseDeployArgs', () => {
  it('reads names or --all, and --dry-run', () => {
    expect(parseDeployArgs(['--all', '--dry-run'])).toEqual({ names, dryRun: true });
    expect(parseDeployArgs(['housekeeping', 'place-order', 'housekeeping'])).toEqual({
      names: ['housekeeping', 'place-order'],
      dryRun: false,
    });
  });

  it('refuses what it does not understand', () => {
    expect(() => parseDeployArgs([])).toThrow(UsageError);
    expect(() => parseDeployArgs(['--al'])).toThrow('unknown option --al');
    expect(() => parseDeployArgs(['--all', 'place-order'])).toThrow('not both');
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
      }),
    ).toMatchObject({ project: 'other-project', region: 'us-central1', DB_NAME: 'orders' });
  });

  it('refuses a value that would break --set-env-vars', () => {
    const env = {
      DEPLOY_PROJECT: 'my-project',
      DEPLOY_REGION: 'europe-west1',
      CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
      DEPLOY_VPC_CONNECTOR: 'orders-functions',
      DB_NAME: 'a,b',
    };
    expect(() => parseDeployConfig(env)).toThrow(/DB_NAME: must not contain a comma/);
  });
});
