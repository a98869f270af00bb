// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  checkInfraPolicy,
  loadTerraform,
  parseTerraform,
  type TerraformConfig,
  type TopologyVariables,
} from './index';

const infraDir = join(__dirname, '..', '..', '..', 'infra');

let infra: TerraformConfig;
let topology: TopologyVariables;

beforeAll(async () => {
  infra = await loadTerraform(infraDir);
  topology = JSON.parse(await readFile(join(infraDir, 'topology.auto.tfvars.json'), 'utf8'));
});

/** The infra with `file` edited; fails the test when `from` is not there to edit. */
async function edited(file: string, from: string | RegExp, to: string): Promise<TerraformConfig> {
  const text = infra.files[file];
  if (text === undefined) throw new Error(`no ${file} in infra/`);
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file} does not contain ${String(from)}`);
  return parseTerraform({ ...infra.files, [file]: changed });
}

/** The infra with the block that starts with `header` (e.g. `resource "t" "n"`) deleted. */
function withoutBlock(file: string, header: string): Promise<TerraformConfig> {
  const escaped = header.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return edited(file, new RegExp(`${escaped} \\{\\n[\\s\\S]*?\\n\\}\\n`), '');
}

/** The infra with `hcl` appended to `file`. */
function withExtra(file: string, hcl: string): Promise<TerraformConfig> {
  return edited(file, /$/, `\n${hcl}`);
}

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
