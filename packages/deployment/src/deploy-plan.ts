import { deadLetterTopic, topics } from '@orders/events';
import type { DeployConfig } from './deploy-config';
import { type FunctionName, functions } from './deployed-functions';
import { functionSizing } from './function-sizing';

/**
 * One gcloud invocation. `capture` names a shell variable its output fills; later steps refer
 * to it as `$NAME` inside an argument.
 */
export interface Step {
  argv: string[];
  capture?: string;
}

/** The service account id of a function: `fn-<name>`, kept within IAM's 6 to 30 characters. */
export function serviceAccountId(name: FunctionName): string {
  return `fn-${name}`.slice(0, 30).replace(/-+$/, '');
}

export function serviceAccountEmail(name: FunctionName, project: string): string {
  return `${serviceAccountId(name)}@${project}.iam.gserviceaccount.com`;
}

const variable = (prefix: string, name: FunctionName) =>
  `${prefix}_${name.toUpperCase().replaceAll('-', '_')}`;

/** Every function but the analytics loader (BigQuery only) works on PostgreSQL. */
const usesDatabase = (name: FunctionName) => name !== 'analytics-loader';

/** The production environment of a function: settings only, never a secret. */
export function functionEnvironment(
  name: FunctionName,
  config: DeployConfig,
): Record<string, string> {
  const env: Record<string, string> = {
    GOOGLE_CLOUD_PROJECT: config.project,
    LOG_LEVEL: config.LOG_LEVEL,
  };
  if (config.LEGACY_CURRENCY) env.LEGACY_CURRENCY = config.LEGACY_CURRENCY;
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
  return env;
}

const PROJECT_NUMBER = 'PROJECT_NUMBER';

/** Run once before any consumer's steps: the Pub/Sub service agent is named by project number. */
function projectNumberStep(config: DeployConfig): Step {
  return {
    argv: ['gcloud', 'projects', 'describe', config.project, '--format=value(projectNumber)'],
    capture: PROJECT_NUMBER,
  };
}

/**
 * Deploys one function, then, for a consumer, reconciles the push subscription Eventarc
 * created for its trigger: dead-letter topic, attempts and backoff from the topology, and
 * the IAM the Pub/Sub service agent needs to dead-letter (publish to the DLQ topic, and
 * acknowledge on the subscription what it forwarded).
 */
export function deploySteps(name: FunctionName, config: DeployConfig): Step[] {
  const { entryPoint, trigger } = functions[name];
  const sizing = {
    ...functionSizing[name],
    ...(config.DEPLOY_MEMORY && { memory: config.DEPLOY_MEMORY }),
    ...(config.DEPLOY_TIMEOUT_SECONDS && { timeoutSeconds: config.DEPLOY_TIMEOUT_SECONDS }),
    ...(config.DEPLOY_MIN_INSTANCES !== undefined && { minInstances: config.DEPLOY_MIN_INSTANCES }),
    ...(config.DEPLOY_MAX_INSTANCES && { maxInstances: config.DEPLOY_MAX_INSTANCES }),
  };
  const where = [`--region=${config.region}`, `--project=${config.project}`];
  const serviceAccount = serviceAccountEmail(name, config.project);
  const env = Object.entries(functionEnvironment(name, config))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const triggerFlags =
    trigger.kind === 'http'
      ? ['--trigger-http', `--ingress-settings=${config.DEPLOY_HTTP_INGRESS}`]
      : [
          `--trigger-topic=${trigger.topic}`,
          '--retry',
          '--ingress-settings=internal-only',
          `--trigger-service-account=${serviceAccount}`,
        ];
  const deploy: Step = {
    argv: [
      'gcloud',
      'functions',
      'deploy',
      name,
      '--gen2',
      '--runtime=nodejs24',
      ...where,
      `--source=functions/${name}/artifact`,
      `--entry-point=${entryPoint}`,
      `--service-account=${serviceAccount}`,
      ...triggerFlags,
      '--no-allow-unauthenticated',
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
      '--quiet',
    ],
  };
  if (trigger.kind === 'http') return [deploy];

  const { delivery } = topics[trigger.topic];
  const dlq = deadLetterTopic(trigger.topic);
  const triggerVar = variable('TRIGGER', name);
  const subscriptionVar = variable('SUBSCRIPTION', name);
  const agent = `serviceAccount:service-$${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  return [
    deploy,
    // The trigger pushes as the function's account, which must be allowed to invoke it.
    {
      argv: [
        'gcloud',
        'functions',
        'add-invoker-policy-binding',
        name,
        ...where,
        `--member=serviceAccount:${serviceAccount}`,
      ],
    },
    {
      argv: [
        'gcloud',
        'functions',
        'describe',
        name,
        '--gen2',
        ...where,
        '--format=value(eventTrigger.trigger)',
      ],
      capture: triggerVar,
    },
    {
      argv: [
        'gcloud',
        'eventarc',
        'triggers',
        'describe',
        `$${triggerVar}`,
        `--location=${config.region}`,
        `--project=${config.project}`,
        '--format=value(transport.pubsub.subscription)',
      ],
      capture: subscriptionVar,
    },
    {
      argv: [
        'gcloud',
        'pubsub',
        'subscriptions',
        'update',
        `$${subscriptionVar}`,
        `--project=${config.project}`,
        `--dead-letter-topic=projects/${config.project}/topics/${dlq}`,
        `--max-delivery-attempts=${delivery.maxDeliveryAttempts}`,
        `--min-retry-delay=${delivery.minimumBackoffSeconds}s`,
        `--max-retry-delay=${delivery.maximumBackoffSeconds}s`,
        `--ack-deadline=${delivery.ackDeadlineSeconds}`,
      ],
    },
    {
      argv: [
        'gcloud',
        'pubsub',
        'topics',
        'add-iam-policy-binding',
        dlq,
        `--project=${config.project}`,
        `--member=${agent}`,
        '--role=roles/pubsub.publisher',
      ],
    },
    {
      argv: [
        'gcloud',
        'pubsub',
        'subscriptions',
        'add-iam-policy-binding',
        `$${subscriptionVar}`,
        `--project=${config.project}`,
        `--member=${agent}`,
        '--role=roles/pubsub.subscriber',
      ],
    },
  ];
}

/** Every step for the named functions, in order. */
export function deployPlan(names: readonly FunctionName[], config: DeployConfig): Step[] {
  const consumers = names.some((name) => functions[name].trigger.kind === 'topic');
  return [
    ...(consumers ? [projectNumberStep(config)] : []),
    ...names.flatMap((name) => deploySteps(name, config)),
  ];
}

/** A step as one shell line: arguments quoted, `$VARIABLES` left for the shell to expand. */
export function formatStep(step: Step): string {
  const line = step.argv.map(shellQuote).join(' ');
  return step.capture ? `${step.capture}=$(${line})` : line;
}

function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  if (/\$[A-Z_]+/.test(arg)) return `"${arg.replace(/["\\`]/g, '\\$&')}"`;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
