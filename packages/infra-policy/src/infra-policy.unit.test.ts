// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { type FunctionName, functions, stripeSecret, usesDatabase } from '@orders/deployment';
import {
  checkInfraPolicy,
  loadTerraform,
  paymentProviderSecret,
  type TerraformConfig,
  type TopologyVariables,
} from './index';
import {
  edited as editedCopy,
  withExtra as withExtraOf,
  withoutBlock as withoutBlockOf,
} from './testing';

const infraDir = join(__dirname, '..', '..', '..', 'infra');

let infra: TerraformConfig;
let topology: TopologyVariables;

beforeAll(async () => {
  infra = await loadTerraform(infraDir);
  topology = JSON.parse(await readFile(join(infraDir, 'topology.auto.tfvars.json'), 'utf8'));
});

/** The infra with `file` edited; fails the test when `from` is not there to edit. */
const edited = (file: string, from: string | RegExp, to: string) =>
  editedCopy(infra, file, from, to);
/** The infra with the block that starts with `header` (e.g. `resource "t" "n"`) deleted. */
const withoutBlock = (file: string, header: string) => withoutBlockOf(infra, file, header);
/** The infra with `hcl` appended to `file`. */
const withExtra = (file: string, hcl: string) => withExtraOf(infra, file, hcl);

describe('infra/ policy', () => {
  it('holds for the Terraform in infra/', () => {
    expect(Object.keys(infra.files)).toEqual(
      expect.arrayContaining(['pubsub.tf', 'service-accounts.tf', 'cloud-sql.tf', 'variables.tf']),
    );
    expect(checkInfraPolicy(infra, topology)).toEqual([]);
  });

  it('gives every topic of the topology a dead-letter topic and a DLQ subscription', () => {
    for (const [topic, settings] of Object.entries(topology.topics)) {
      expect(settings.dead_letter_topic).toBe(`${topic}-dlq`);
    }
    const dlq = infra.resources.google_pubsub_topic?.dead_letter?.[0];
    expect(dlq).toMatchObject({
      for_each: '${var.topics}',
      name: '${each.value.dead_letter_topic}',
    });
    expect(infra.resources.google_pubsub_subscription?.dead_letter?.[0]).toMatchObject({
      for_each: '${var.topics}',
      name: '${each.value.dead_letter_topic}',
      topic: '${google_pubsub_topic.dead_letter[each.key].id}',
    });
  });

  describe('fails when', () => {
    it('the dead-letter topics are removed', async () => {
      const config = await withoutBlock(
        'pubsub.tf',
        'resource "google_pubsub_topic" "dead_letter"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual(
        expect.arrayContaining([expect.stringContaining('no dead-letter google_pubsub_topic')]),
      );
    });

    it('the subscription on each DLQ is removed', async () => {
      const config = await withoutBlock(
        'pubsub.tf',
        'resource "google_pubsub_subscription" "dead_letter"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'no google_pubsub_subscription on each dead-letter topic',
      ]);
    });

    it('the Pub/Sub service agent may no longer publish to the DLQs', async () => {
      const config = await withoutBlock(
        'pubsub.tf',
        'resource "google_pubsub_topic_iam_member" "service_agent_dead_letter_publisher"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'the Pub/Sub service agent cannot publish to each dead-letter topic',
      ]);
    });

    it('a consumer subscription has no dead-letter policy', async () => {
      const config = await withExtra(
        'pubsub.tf',
        [
          'resource "google_pubsub_subscription" "consumer" {',
          '  for_each = var.topics',
          '',
          '  name  = "${each.key}-consumer"',
          '  topic = google_pubsub_topic.topic[each.key].id',
          '}',
          '',
        ].join('\n'),
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'google_pubsub_subscription.consumer consumes a topic without a dead_letter_policy',
      ]);
    });

    it('the per-function service accounts are removed', async () => {
      const config = await withoutBlock(
        'service-accounts.tf',
        'resource "google_service_account" "function"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'no google_service_account for each of var.functions (account_id from each.key)',
      ]);
    });

    it('the functions share one service account', async () => {
      const config = await edited(
        'service-accounts.tf',
        'account_id   = "fn-${each.key}"',
        'account_id   = "functions"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'no google_service_account for each of var.functions (account_id from each.key)',
      ]);
    });

    it("the intake's public invoker reaches beyond place-order, or beyond run.invoker", async () => {
      const onConsumer = await edited(
        'intake.tf',
        'name     = "place-order"',
        'name     = "process-order"',
      );
      expect(checkInfraPolicy(onConsumer, topology)).toEqual([
        "google_cloud_run_v2_service_iam_member.intake_invoker grants roles/run.invoker on process-order to var.intake_invoker: only place-order's run.invoker may",
        'google_cloud_run_v2_service_iam_member.intake_invoker grants roles/run.invoker to ${var.intake_invoker}',
      ]);
      const admin = await edited(
        'intake.tf',
        'role     = "roles/run.invoker"',
        'role     = "roles/run.admin"',
      );
      expect(checkInfraPolicy(admin, topology)).toEqual([
        "google_cloud_run_v2_service_iam_member.intake_invoker grants roles/run.admin on place-order to var.intake_invoker: only place-order's run.invoker may",
      ]);
      const anyGoogleAccount = await edited(
        'inputs.tf',
        'default     = "allUsers"',
        'default     = "allAuthenticatedUsers"',
      );
      expect(checkInfraPolicy(anyGoogleAccount, topology)).toEqual([
        'inputs.tf: intake_invoker may be allUsers or a service account, no other',
      ]);
    });

    it('anything is granted to allUsers or allAuthenticatedUsers', async () => {
      for (const member of ['allUsers', 'allAuthenticatedUsers']) {
        const config = await withExtra(
          'pubsub.tf',
          [
            'resource "google_pubsub_topic_iam_member" "open" {',
            '  topic  = "anything"',
            '  role   = "roles/pubsub.subscriber"',
            `  member = "${member}"`,
            '}',
            '',
          ].join('\n'),
        );
        expect(checkInfraPolicy(config, topology)).toEqual([`pubsub.tf grants to ${member}`]);
      }
    });

    it('a function may be invoked by a member that is not a service account', async () => {
      const config = await withExtra(
        'service-accounts.tf',
        [
          'resource "google_cloud_run_v2_service_iam_member" "invoker" {',
          '  name   = "place-order"',
          '  role   = "roles/run.invoker"',
          '  member = "domain:example.com"',
          '}',
          '',
        ].join('\n'),
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'google_cloud_run_v2_service_iam_member.invoker grants roles/run.invoker to domain:example.com',
      ]);
    });

    it('Cloud SQL gets a public IP', async () => {
      const config = await edited(
        'cloud-sql.tf',
        'ipv4_enabled    = false',
        'ipv4_enabled    = true',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'google_sql_database_instance.orders has a public IP (ipv4_enabled must be false)',
      ]);
    });

    it('Cloud SQL loses its ip_configuration', async () => {
      const config = await edited(
        'cloud-sql.tf',
        /\n {4}ip_configuration \{[\s\S]*?\n {4}\}\n/,
        '\n',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'google_sql_database_instance.orders has a public IP (ipv4_enabled must be false)',
      ]);
    });

    it('consumers lose their internal-only ingress', async () => {
      const config = await edited(
        'service-accounts.tf',
        '"all" : "internal-only"',
        '"all" : "all"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'local.function_ingress does not restrict every consumer to internal-only',
      ]);
    });

    it('a topic name is hard-coded instead of coming from var.topics', async () => {
      const config = await edited(
        'scheduler.tf',
        'google_pubsub_topic.topic[var.functions.housekeeping.trigger_topic].id',
        '"projects/${var.project_id}/topics/housekeeping"',
      );
      expect(checkInfraPolicy(config, topology)).toEqual([
        'scheduler.tf hard-codes the topic name "housekeeping": take it from var.topics',
      ]);
      const quoted = await withExtra('pubsub.tf', 'locals {\n  dlq = "order-saga-dlq"\n}\n');
      expect(checkInfraPolicy(quoted, topology)).toEqual([
        'pubsub.tf hard-codes the topic name "order-saga-dlq": take it from var.topics',
      ]);
    });

    it('the topology gives a topic an out-of-range delivery attempt count', () => {
      const broken: TopologyVariables = structuredClone(topology);
      const first = Object.keys(broken.topics)[0] as string;
      (broken.topics[first] as { max_delivery_attempts: number }).max_delivery_attempts = 3;
      expect(checkInfraPolicy(infra, broken)).toEqual([
        `topic ${first}: max_delivery_attempts must be 5 to 100`,
      ]);
    });
  });
});

describe('who may do what in infra/', () => {
  const deployerRoles = '"roles/cloudfunctions.developer",';
  const policyOf = (config: TerraformConfig) => checkInfraPolicy(config, topology);

  it('declares what the deploy uses: the secret it mounts, the database users it logs in as', () => {
    expect(paymentProviderSecret.secretId).toBe(stripeSecret.id);
    // local.database_functions is every function but local.warehouse_functions.
    expect(infra.locals.database_functions).toBe(
      '${setsubtract(toset(keys(var.functions)), local.warehouse_functions)}',
    );
    const warehouseOnly = (Object.keys(functions) as FunctionName[]).filter(
      (name) => !usesDatabase(name),
    );
    expect(infra.locals.warehouse_functions).toBe(`\${toset(${JSON.stringify(warehouseOnly)})}`);
  });

  it("holds for the Terraform in infra/, and names the deploy job's real subject", () => {
    expect(policyOf(infra)).toEqual([]);
    expect(infra.locals.github_deploy_subject).toBe(
      'repo:${var.github_repository}:environment:${var.github_environment}',
    );
  });

  describe('fails when', () => {
    it.each(['roles/run.admin', 'roles/pubsub.admin', 'roles/eventarc.admin'])(
      'the deployer holds %s project-wide',
      async (role) => {
        const config = await edited('github.tf', deployerRoles, `${deployerRoles}\n    "${role}",`);
        expect(policyOf(config)).toEqual([
          `the deployer holds ${role} project-wide (a deploy needs only roles/cloudfunctions.developer, roles/cloudbuild.builds.viewer)`,
          `google_project_iam_member.deployer grants ${role} on the whole project to \${google_service_account.deployer.member}`,
        ]);
      },
    );

    it('the deployer may act as any account of the project', async () => {
      const config = await edited(
        'github.tf',
        deployerRoles,
        `${deployerRoles}\n    "roles/iam.serviceAccountUser",`,
      );
      expect(policyOf(config)).toEqual([
        'the deployer holds roles/iam.serviceAccountUser project-wide (a deploy needs only roles/cloudfunctions.developer, roles/cloudbuild.builds.viewer)',
        'google_project_iam_member.deployer grants roles/iam.serviceAccountUser on the whole project to ${google_service_account.deployer.member}',
      ]);
    });

    it("the deployer may act as an account that is neither a function's nor the builder", async () => {
      const config = await withExtra(
        'github.tf',
        [
          'resource "google_service_account_iam_member" "deployer_acts_as_itself" {',
          '  service_account_id = google_service_account.deployer.name',
          '  role               = "roles/iam.serviceAccountUser"',
          '  member             = google_service_account.deployer.member',
          '}',
          '',
        ].join('\n'),
      );
      expect(policyOf(config)).toEqual([
        'google_service_account_iam_member.deployer_acts_as_itself: the deployer may act as an account other than the function and build accounts',
      ]);
    });

    it('the deployer may not act as the build account', async () => {
      const config = await withoutBlock(
        'github.tf',
        'resource "google_service_account_iam_member" "deployer_acts_as_builder"',
      );
      expect(policyOf(config)).toEqual([
        'the deployer may not act as the build account (--build-service-account)',
      ]);
    });

    it("the deploy job's identity is bound to the branch subject, which an environment job never gets", async () => {
      const config = await edited(
        'github.tf',
        ':environment:${var.github_environment}"',
        ':ref:refs/heads/${var.github_branch}"',
      );
      expect(policyOf(config)).toEqual([
        'google_service_account_iam_member.deployer_workload_identity: subject repo:${var.github_repository}:ref:refs/heads/${var.github_branch} is not the one GitHub issues the deploy job (repo:${var.github_repository}:environment:${var.github_environment})',
      ]);
    });

    it('every identity of the repository may impersonate the deployer', async () => {
      const config = await edited(
        'github.tf',
        /"principal:\/\/iam\.googleapis\.com\/\$\{google_iam_workload_identity_pool\.github\.name\}\/subject\/\$\{local\.github_deploy_subject\}"/,
        '"principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"',
      );
      expect(policyOf(config)).toEqual([
        'google_service_account_iam_member.deployer_workload_identity: principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository} is not one subject (principal://.../subject/...)',
      ]);
    });

    it.each([
      ['repository_id', 'its attribute_condition does not pin repository_id'],
      ['repository_owner_id', 'its attribute_condition does not pin repository_owner_id'],
      ['ref', 'its attribute_condition does not pin ref'],
      [
        'workflow_ref',
        'its attribute_condition does not pin the workflow (workflow_ref or job_workflow_ref)',
      ],
    ])("the provider's condition leaves out %s", async (claim, violation) => {
      const config = await edited(
        'github.tf',
        new RegExp(`\\n\\s*assertion\\.${claim} == [^\\n]*&&`),
        '',
      );
      expect(policyOf(config)).toEqual([
        `google_iam_workload_identity_pool_provider.github: ${violation}`,
      ]);
    });

    it("the provider's condition names the repository by a name only", async () => {
      const config = await edited(
        'github.tf',
        'assertion.repository_id == "${var.github_repository_id}"',
        'assertion.repository == "${var.github_repository}"',
      );
      expect(policyOf(config)).toEqual([
        'google_iam_workload_identity_pool_provider.github: its attribute_condition does not pin repository_id',
      ]);
    });

    it("the provider's condition can be satisfied another way", async () => {
      const config = await edited(
        'github.tf',
        'workflow_ref ==',
        'workflow_ref != "" || assertion.workflow_ref ==',
      );
      expect(policyOf(config)).toEqual([
        'google_iam_workload_identity_pool_provider.github: its attribute_condition must be equalities joined by && only',
      ]);
    });

    it('the build account is removed, so Cloud Build builds as a default account', async () => {
      const config = await withoutBlock('build.tf', 'resource "google_service_account" "builder"');
      expect(policyOf(config)).toEqual([
        'no google_service_account.builder: Cloud Build would build as a default account',
      ]);
    });

    it('the build account may build anything', async () => {
      const config = await edited(
        'build.tf',
        '"roles/logging.logWriter",',
        '"roles/logging.logWriter",\n    "roles/cloudbuild.builds.builder",',
      );
      expect(policyOf(config)).toEqual([
        'the build account holds roles/cloudbuild.builds.builder project-wide (it needs only roles/logging.logWriter, roles/storage.objectViewer)',
      ]);
    });

    it('the Pub/Sub service agent may mint tokens of every account of the project', async () => {
      const config = await withExtra(
        'pubsub.tf',
        [
          'resource "google_project_iam_member" "service_agent_token_creator" {',
          '  project = var.project_id',
          '  role    = "roles/iam.serviceAccountTokenCreator"',
          '  member  = local.pubsub_service_agent',
          '}',
          '',
        ].join('\n'),
      );
      expect(policyOf(config)).toEqual([
        'google_project_iam_member.service_agent_token_creator grants roles/iam.serviceAccountTokenCreator on the whole project to ${local.pubsub_service_agent}',
      ]);
    });

    it("the Pub/Sub service agent may mint the deployer's tokens", async () => {
      const config = await withExtra(
        'pubsub.tf',
        [
          'resource "google_service_account_iam_member" "agent_mints_deployer" {',
          '  service_account_id = google_service_account.deployer.name',
          '  role               = "roles/iam.serviceAccountTokenCreator"',
          '  member             = local.pubsub_service_agent',
          '}',
          '',
        ].join('\n'),
      );
      expect(policyOf(config)).toEqual([
        "google_service_account_iam_member.agent_mints_deployer lets ${local.pubsub_service_agent} mint tokens of an account that is not a function's",
      ]);
    });

    it('the Pub/Sub service agent may not acknowledge what it dead-letters', async () => {
      const config = await withoutBlock(
        'pubsub.tf',
        'resource "google_pubsub_subscription_iam_member" "service_agent_dead_letter_subscriber"',
      );
      expect(policyOf(config)).toEqual([
        'the Pub/Sub service agent may not acknowledge what it dead-letters on each consumer subscription',
      ]);
    });

    it("a consumer's subscription pushes as another function's account", async () => {
      const config = await edited(
        'pubsub.tf',
        'service_account_email = google_service_account.function[each.value.consumer].email',
        'service_account_email = google_service_account.function["payment-handler"].email',
      );
      expect(policyOf(config)).toEqual([
        "google_pubsub_subscription.consumer does not push as its consumer's own account",
      ]);
    });

    it('no binding lets the consumers invoke their functions', async () => {
      const config = await withoutBlock(
        'pubsub.tf',
        'resource "google_cloud_run_v2_service_iam_member" "push_invoker"',
      );
      expect(policyOf(config)).toEqual([
        'no binding lets each consumer account invoke its own function (roles/run.invoker)',
      ]);
    });

    it("a function's account may invoke another function", async () => {
      const config = await withExtra(
        'pubsub.tf',
        [
          'resource "google_cloud_run_v2_service_iam_member" "intake_charges" {',
          '  location = var.region',
          '  name     = "payment-handler"',
          '  role     = "roles/run.invoker"',
          '  member   = google_service_account.function["place-order"].member',
          '}',
          '',
        ].join('\n'),
      );
      expect(policyOf(config)).toEqual([
        'google_cloud_run_v2_service_iam_member.intake_charges lets "place-order"\'s account invoke payment-handler',
      ]);
    });

    it("the payment provider's secret is readable by another account", async () => {
      const config = await withExtra(
        'secrets.tf',
        [
          'resource "google_secret_manager_secret_iam_member" "saga_reads_stripe_key" {',
          '  secret_id = google_secret_manager_secret.stripe_secret_key.id',
          '  role      = "roles/secretmanager.secretAccessor"',
          '  member    = google_service_account.function["process-order"].member',
          '}',
          '',
        ].join('\n'),
      );
      expect(policyOf(config)).toEqual([
        'saga_reads_stripe_key lets ${google_service_account.function["process-order"].member} at stripe-secret-key (only payment-handler may read it)',
      ]);
    });

    it("the payment provider's secret is read by another function instead", async () => {
      const config = await edited(
        'secrets.tf',
        'google_service_account.function["payment-handler"].member',
        'google_service_account.function["place-order"].member',
      );
      expect(policyOf(config)).toEqual([
        'payment_handler_reads_stripe_key lets ${google_service_account.function["place-order"].member} at stripe-secret-key (only payment-handler may read it)',
        "payment-handler's account may not read stripe-secret-key",
      ]);
    });

    it('every function may read every secret of the project', async () => {
      const config = await edited(
        'service-accounts.tf',
        'project_roles = ["roles/logging.logWriter", "roles/telemetry.tracesWriter"]',
        'project_roles = ["roles/logging.logWriter", "roles/telemetry.tracesWriter", "roles/secretmanager.secretAccessor"]',
      );
      expect(policyOf(config)).toEqual([
        'google_project_iam_member.function grants roles/secretmanager.secretAccessor on the whole project to ${google_service_account.function[each.value.function].member}',
      ]);
    });

    it("the secret's value is written in Terraform", async () => {
      const config = await withExtra(
        'secrets.tf',
        [
          'resource "google_secret_manager_secret_version" "stripe_secret_key" {',
          '  secret      = google_secret_manager_secret.stripe_secret_key.id',
          '  secret_data = "sk_live_do_not"',
          '}',
          '',
        ].join('\n'),
      );
      expect(policyOf(config)).toEqual([
        'a google_secret_manager_secret_version puts a secret value in the Terraform state',
      ]);
    });

    it('the database functions lose their IAM database users', async () => {
      const config = await withoutBlock('cloud-sql.tf', 'resource "google_sql_user" "function"');
      expect(policyOf(config)).toEqual([
        'no IAM database user (CLOUD_IAM_SERVICE_ACCOUNT) for each database function',
      ]);
    });

    it('a database user gets a password', async () => {
      const config = await edited(
        'cloud-sql.tf',
        'type     = "CLOUD_IAM_SERVICE_ACCOUNT"',
        'type     = "BUILT_IN"\n  password = "secret"',
      );
      expect(policyOf(config)).toEqual([
        'no IAM database user (CLOUD_IAM_SERVICE_ACCOUNT) for each database function',
        'a google_sql_user has a password: the functions log in with IAM only',
      ]);
    });

    it.each(['database_client', 'database_instance_user'])(
      'the database functions lose %s',
      async (grant) => {
        const config = await withoutBlock(
          'service-accounts.tf',
          `resource "google_project_iam_member" "${grant}"`,
        );
        const role = grant === 'database_client' ? 'cloudsql.client' : 'cloudsql.instanceUser';
        expect(policyOf(config)).toEqual([`the database functions' accounts lack roles/${role}`]);
      },
    );
  });

  it('accepts the workflow pinned by job_workflow_ref', async () => {
    const config = await edited(
      'github.tf',
      'assertion.workflow_ref ==',
      'assertion.job_workflow_ref ==',
    );
    expect(policyOf(config)).toEqual([]);
  });
});
