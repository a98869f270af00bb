// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import {
  firstBlock,
  type HclBody,
  isPubSubServiceAgent,
  refersTo,
  resolveLocals,
  resourcesOf,
  type TerraformConfig,
} from './terraform-config';

/**
 * What the deployer may hold project-wide: deploying functions, and reading a failed build.
 * Everything else it needs is granted on one resource (acting as the function and build
 * accounts); push subscriptions, invoker bindings, dead-letter grants and secrets are
 * Terraform's, so no admin role of Pub/Sub, Eventarc or Cloud Run is ever needed.
 */
export const deployerProjectRoles: readonly string[] = [
  'roles/cloudfunctions.developer',
  'roles/cloudbuild.builds.viewer',
];

/** What the build account may hold project-wide (its image repository is granted on itself). */
export const builderProjectRoles: readonly string[] = [
  'roles/logging.logWriter',
  'roles/storage.objectViewer',
];

/** The payment provider's secret and the only function whose account may read it. */
export const paymentProviderSecret = { secretId: 'stripe-secret-key', reader: 'payment-handler' };

/** GitHub OIDC claims the provider's condition must pin (the workflow by either claim). */
const pinnedClaims = ['repository_id', 'repository_owner_id', 'ref'];
const workflowClaims = ['workflow_ref', 'job_workflow_ref'];

const perTopic = '${var.topics}';
const deployer = 'google_service_account.deployer';
const builder = 'google_service_account.builder';
const functionAccount = 'google_service_account.function[';

/**
 * Who may do what: the GitHub trust (the deploy job's real subject, the provider's condition
 * on ids, ref and workflow), the deployer's and the build account's least privilege, the
 * Pub/Sub service agent's grants on the functions' accounts and subscriptions only, every
 * consumer's push subscription and invoker binding, the payment provider's secret, and each
 * database function's IAM database user and Cloud SQL roles.
 */
export function checkAccessPolicy(config: TerraformConfig): string[] {
  return [
    ...checkWorkloadIdentity(config),
    ...checkDeployer(config),
    ...checkBuilder(config),
    ...checkProjectWideGrants(config),
    ...checkPushDelivery(config),
    ...checkPaymentSecret(config),
    ...checkDatabaseUsers(config),
    ...checkTraceWriting(config),
  ];
}

function checkWorkloadIdentity(config: TerraformConfig): string[] {
  const violations: string[] = [];
  const bindings = resourcesOf(config, 'google_service_account_iam_member').filter(
    ([, body]) => body.role === 'roles/iam.workloadIdentityUser',
  );
  if (bindings.length === 0)
    violations.push('nothing may impersonate the deployer (no workloadIdentityUser binding)');
  for (const [name, body] of bindings) {
    const member = resolveLocals(config, String(body.member ?? ''));
    if (!refersTo(body.service_account_id, deployer)) {
      violations.push(
        `google_service_account_iam_member.${name}: workloadIdentityUser on an account other than the deployer`,
      );
    }
    const subject = /^principal:\/\/iam\.googleapis\.com\/.+\/subject\/(.+)$/.exec(member)?.[1];
    if (!subject) {
      violations.push(
        `google_service_account_iam_member.${name}: ${member} is not one subject (principal://.../subject/...)`,
      );
    } else if (subject !== 'repo:${var.github_repository}:environment:${var.github_environment}') {
      violations.push(
        `google_service_account_iam_member.${name}: subject ${subject} is not the one GitHub issues the deploy job (repo:\${var.github_repository}:environment:\${var.github_environment})`,
      );
    }
  }

  const providers = resourcesOf(config, 'google_iam_workload_identity_pool_provider');
  if (providers.length === 0) violations.push('no google_iam_workload_identity_pool_provider');
  for (const [name, body] of providers) {
    const condition = resolveLocals(config, String(body.attribute_condition ?? ''));
    const where = `google_iam_workload_identity_pool_provider.${name}`;
    if (/\|\||!=|\bin\b|startsWith|matches|contains/.test(condition)) {
      violations.push(`${where}: its attribute_condition must be equalities joined by && only`);
    }
    const pinned = (claim: string) =>
      new RegExp(
        `(^|[\\s&(])assertion\\.${claim}\\s*==\\s*"[^"]*\\$\\{var\\.[a-z_]+\\}[^"]*"`,
      ).test(condition);
    for (const claim of pinnedClaims) {
      if (!pinned(claim))
        violations.push(`${where}: its attribute_condition does not pin ${claim}`);
    }
    if (!workflowClaims.some(pinned)) {
      violations.push(
        `${where}: its attribute_condition does not pin the workflow (workflow_ref or job_workflow_ref)`,
      );
    }
  }
  return violations;
}

function checkDeployer(config: TerraformConfig): string[] {
  const violations: string[] = [];
  for (const role of projectRolesOf(config, deployer)) {
    if (!deployerProjectRoles.includes(role)) {
      violations.push(
        `the deployer holds ${role} project-wide (a deploy needs only ${deployerProjectRoles.join(', ')})`,
      );
    }
  }
  const actsAs = resourcesOf(config, 'google_service_account_iam_member').filter(
    ([, body]) => body.role === 'roles/iam.serviceAccountUser' && refersTo(body.member, deployer),
  );
  for (const [name, body] of actsAs) {
    if (
      !refersTo(body.service_account_id, functionAccount) &&
      !refersTo(body.service_account_id, `${builder}.`)
    ) {
      violations.push(
        `google_service_account_iam_member.${name}: the deployer may act as an account other than the function and build accounts`,
      );
    }
  }
  const onFunctions = actsAs.some(
    ([, body]) =>
      body.for_each === '${var.functions}' &&
      refersTo(body.service_account_id, `${functionAccount}each.key]`),
  );
  if (!onFunctions)
    violations.push('the deployer may not act as each function account (--service-account)');
  if (!actsAs.some(([, body]) => refersTo(body.service_account_id, `${builder}.`))) {
    violations.push('the deployer may not act as the build account (--build-service-account)');
  }
  return violations;
}

function checkBuilder(config: TerraformConfig): string[] {
  const accounts = resourcesOf(config, 'google_service_account').filter(
    ([name]) => name === 'builder',
  );
  if (accounts.length === 0)
    return ['no google_service_account.builder: Cloud Build would build as a default account'];
  const violations: string[] = [];
  for (const role of projectRolesOf(config, builder)) {
    if (!builderProjectRoles.includes(role)) {
      violations.push(
        `the build account holds ${role} project-wide (it needs only ${builderProjectRoles.join(', ')})`,
      );
    }
  }
  const writesImages = resourcesOf(config, 'google_artifact_registry_repository_iam_member').some(
    ([, body]) => body.role === 'roles/artifactregistry.writer' && refersTo(body.member, builder),
  );
  if (!writesImages)
    violations.push("the build account may not push to the functions' image repository");
  return violations;
}

/** Roles that must never be granted on the whole project, to anyone. */
const resourceOnlyRoles = [
  'roles/iam.serviceAccountUser',
  'roles/iam.serviceAccountTokenCreator',
  'roles/secretmanager.secretAccessor',
  'roles/run.invoker',
  'roles/cloudfunctions.invoker',
];

function checkProjectWideGrants(config: TerraformConfig): string[] {
  const violations: string[] = [];
  for (const [name, body, role] of projectGrants(config)) {
    if (
      resourceOnlyRoles.includes(role) ||
      /^roles\/(owner|editor)$|\.admin$|^roles\/secretmanager\./.test(role)
    ) {
      violations.push(
        `google_project_iam_member.${name} grants ${role} on the whole project to ${String(body.member)}`,
      );
    }
  }
  return violations;
}

function checkPushDelivery(config: TerraformConfig): string[] {
  const violations: string[] = [];
  const subscription = resourcesOf(config, 'google_pubsub_subscription').find(
    ([, body]) => body.for_each === perTopic && body.name === '${each.value.consumer}',
  );
  if (!subscription) {
    return [
      'no push google_pubsub_subscription for each of var.topics (name = each.value.consumer)',
    ];
  }
  const [subscriptionName, body] = subscription;
  const oidc = firstBlock(firstBlock(body, 'push_config'), 'oidc_token');
  if (!refersTo(oidc?.service_account_email, `${functionAccount}each.value.consumer]`)) {
    violations.push(
      `google_pubsub_subscription.${subscriptionName} does not push as its consumer's own account`,
    );
  }
  if (
    !refersTo(
      firstBlock(body, 'dead_letter_policy')?.dead_letter_topic,
      'google_pubsub_topic.dead_letter[each.key]',
    )
  ) {
    violations.push(
      `google_pubsub_subscription.${subscriptionName} does not dead-letter to its topic's DLQ`,
    );
  }

  const serviceAgentSubscribes = resourcesOf(config, 'google_pubsub_subscription_iam_member').some(
    ([, grant]) =>
      grant.for_each === perTopic &&
      grant.role === 'roles/pubsub.subscriber' &&
      refersTo(grant.subscription, `google_pubsub_subscription.${subscriptionName}[each.key]`) &&
      isPubSubServiceAgent(config, grant.member),
  );
  if (!serviceAgentSubscribes) {
    violations.push(
      'the Pub/Sub service agent may not acknowledge what it dead-letters on each consumer subscription',
    );
  }

  const tokenGrants = resourcesOf(config, 'google_service_account_iam_member').filter(
    ([, grant]) => grant.role === 'roles/iam.serviceAccountTokenCreator',
  );
  for (const [name, grant] of tokenGrants) {
    if (!refersTo(grant.service_account_id, functionAccount)) {
      violations.push(
        `google_service_account_iam_member.${name} lets ${String(grant.member)} mint tokens of an account that is not a function's`,
      );
    }
  }
  const agentMints = tokenGrants.some(
    ([, grant]) =>
      grant.for_each === perTopic &&
      refersTo(grant.service_account_id, `${functionAccount}each.value.consumer]`) &&
      isPubSubServiceAgent(config, grant.member),
  );
  if (!agentMints)
    violations.push(
      'the Pub/Sub service agent may not mint the push tokens of each consumer account',
    );

  const invokers = ['google_cloud_run_v2_service_iam_member', 'google_cloud_run_service_iam_member']
    .flatMap((type) =>
      resourcesOf(config, type).map(([name, grant]) => [`${type}.${name}`, grant] as const),
    )
    .filter(([, grant]) => grant.role === 'roles/run.invoker');
  const ownInvoker = invokers.some(
    ([, grant]) =>
      String(grant.for_each ?? '').includes('var.topics') &&
      grant.name === '${each.value.consumer}' &&
      refersTo(grant.member, `${functionAccount}each.value.consumer]`),
  );
  if (!ownInvoker)
    violations.push(
      'no binding lets each consumer account invoke its own function (roles/run.invoker)',
    );
  for (const [resource, grant] of invokers) {
    const service = String(grant.name);
    const member = /google_service_account\.function\[([^\]]+)\]/.exec(String(grant.member))?.[1];
    if (
      member &&
      member !==
        (service === '${each.value.consumer}' ? 'each.value.consumer' : JSON.stringify(service))
    ) {
      violations.push(`${resource} lets ${member}'s account invoke ${service}`);
    }
  }
  return violations;
}

function checkPaymentSecret(config: TerraformConfig): string[] {
  const secret = resourcesOf(config, 'google_secret_manager_secret').find(
    ([, body]) => body.secret_id === paymentProviderSecret.secretId,
  );
  if (!secret) return [`no google_secret_manager_secret "${paymentProviderSecret.secretId}"`];
  const violations: string[] = [];
  if (Object.keys(config.resources.google_secret_manager_secret_version ?? {}).length > 0) {
    violations.push(
      'a google_secret_manager_secret_version puts a secret value in the Terraform state',
    );
  }
  const reader = `${functionAccount}"${paymentProviderSecret.reader}"]`;
  const grants = [
    ...resourcesOf(config, 'google_secret_manager_secret_iam_member'),
    ...resourcesOf(config, 'google_secret_manager_secret_iam_binding'),
    ...resourcesOf(config, 'google_secret_manager_secret_iam_policy'),
  ].filter(([, body]) => refersTo(body.secret_id, `google_secret_manager_secret.${secret[0]}.`));
  let readable = false;
  for (const [name, body] of grants) {
    const members = [body.member, ...(Array.isArray(body.members) ? body.members : [])].filter(
      (member) => member !== undefined,
    );
    for (const member of members.length > 0 ? members : [body.policy_data]) {
      if (body.role === 'roles/secretmanager.secretAccessor' && refersTo(member, reader))
        readable = true;
      else
        violations.push(
          `${name} lets ${String(member)} at ${paymentProviderSecret.secretId} (only ${paymentProviderSecret.reader} may read it)`,
        );
    }
  }
  if (!readable)
    violations.push(
      `${paymentProviderSecret.reader}'s account may not read ${paymentProviderSecret.secretId}`,
    );
  return violations;
}

function checkDatabaseUsers(config: TerraformConfig): string[] {
  const violations: string[] = [];
  const perDatabaseFunction = '${local.database_functions}';
  const users = resourcesOf(config, 'google_sql_user').filter(
    ([, body]) => body.for_each === perDatabaseFunction,
  );
  const iamUser = users.find(
    ([, body]) =>
      body.type === 'CLOUD_IAM_SERVICE_ACCOUNT' &&
      refersTo(body.name, `${functionAccount}each.key].email`) &&
      refersTo(body.name, '.gserviceaccount.com'),
  );
  if (!iamUser)
    violations.push('no IAM database user (CLOUD_IAM_SERVICE_ACCOUNT) for each database function');
  for (const role of ['roles/cloudsql.client', 'roles/cloudsql.instanceUser']) {
    const granted = projectGrants(config).some(
      ([, body, granted]) =>
        granted === role &&
        body.for_each === perDatabaseFunction &&
        refersTo(body.member, `${functionAccount}each.key]`),
    );
    if (!granted) violations.push(`the database functions' accounts lack ${role}`);
  }
  for (const [, body] of resourcesOf(config, 'google_sql_user')) {
    if (body.password !== undefined || body.password_wo !== undefined) {
      violations.push('a google_sql_user has a password: the functions log in with IAM only');
    }
  }
  return violations;
}

/** Every `google_project_iam_member` as [name, body, role], a for_each over a role set unrolled. */
function projectGrants(config: TerraformConfig): [string, HclBody, string][] {
  return resourcesOf(config, 'google_project_iam_member').flatMap(([name, body]) => {
    const role = String(body.role ?? '');
    if (!role.includes('each.value')) return [[name, body, role] as [string, HclBody, string]];
    const roles = rolesIn(config, String(body.for_each ?? ''), new Set());
    return roles.map((each): [string, HclBody, string] => [name, body, each]);
  });
}

function projectRolesOf(config: TerraformConfig, account: string): string[] {
  return projectGrants(config)
    .filter(([, body]) => refersTo(body.member, `${account}.`))
    .map(([, , role]) => role);
}

/** The roles an expression names, through the locals it refers to. */
function rolesIn(config: TerraformConfig, text: string, seen: Set<string>): string[] {
  const named = [...text.matchAll(/"(roles\/[A-Za-z0-9_.]+)"/g)].map(([, role]) => role!);
  const viaLocals = [...text.matchAll(/\blocal\.(\w+)/g)].flatMap(([, local]) => {
    if (seen.has(local!)) return [];
    seen.add(local!);
    const value = config.locals[local!];
    return rolesIn(config, typeof value === 'string' ? value : JSON.stringify(value ?? ''), seen);
  });
  return [...new Set([...named, ...viaLocals])];
}

/**
 * The one role through which the function accounts write spans: the Telemetry API (OTLP, what
 * the functions export to with OTEL_TRACES=on) takes them with `telemetry.traces.write`,
 * which this role alone holds.
 */
export const traceWriterRole = 'roles/telemetry.tracesWriter';

/** Wider roles that write traces too (and more): never a function account's. */
const widerTraceWriters = /^roles\/(cloudtrace\.(agent|admin)|telemetry\.(writer|editor|admin))$/;

/** The APIs spans need: the Telemetry API receives them, Cloud Trace's stores them. */
const traceApis = ['telemetry.googleapis.com', 'cloudtrace.googleapis.com'];

function checkTraceWriting(config: TerraformConfig): string[] {
  const violations: string[] = [];
  const grants = projectGrants(config).filter(([, body]) => refersTo(body.member, functionAccount));
  if (!grants.some(([, , role]) => role === traceWriterRole)) {
    violations.push(
      `the function accounts may not write spans (${traceWriterRole} on the project)`,
    );
  }
  for (const [name, body, role] of grants) {
    if (widerTraceWriters.test(role)) {
      violations.push(
        `google_project_iam_member.${name} grants ${role} to ${String(body.member)}: a function account writes spans only through ${traceWriterRole}`,
      );
    }
  }
  const apis = String(config.locals.apis ?? '');
  for (const api of traceApis) {
    if (!apis.includes(`"${api}"`)) violations.push(`local.apis does not enable ${api} (spans)`);
  }
  return violations;
}
