// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  checkAlertPolicy,
  loadRunbooks,
  loadTerraform,
  type Runbooks,
  type TerraformConfig,
} from './index';
import { edited, withExtra, withoutBlock } from './testing';

const root = join(__dirname, '..', '..', '..');

let infra: TerraformConfig;
let runbooks: Runbooks;

beforeAll(async () => {
  infra = await loadTerraform(join(root, 'infra'));
  runbooks = await loadRunbooks(join(root, 'docs', 'runbooks'));
});

const alert = (name: string) => infra.resources.google_monitoring_alert_policy?.[name]?.[0];

describe('alert policy', () => {
  it('holds for infra/ and docs/runbooks/', () => {
    expect(Object.keys(infra.files)).toEqual(
      expect.arrayContaining(['monitoring.tf', 'dashboard.tf']),
    );
    expect(checkAlertPolicy(infra, runbooks)).toEqual([]);
  });

  it('alerts on each DLQ and each consumer subscription from var.topics, as the subscriptions are made', () => {
    expect(alert('dead_letters')).toMatchObject({ for_each: '${var.topics}' });
    expect(JSON.stringify(alert('dead_letters'))).toContain(
      'google_pubsub_subscription.dead_letter[each.key].name',
    );
    expect(alert('consumer_backlog')).toMatchObject({ for_each: '${var.topics}' });
    expect(JSON.stringify(alert('consumer_backlog'))).toContain(
      'google_pubsub_subscription.consumer[each.key].name',
    );
  });

  describe('fails when', () => {
    it('the DLQ alerts are removed', async () => {
      const config = await withoutBlock(
        infra,
        'monitoring.tf',
        'resource "google_monitoring_alert_policy" "dead_letters"',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        expect.stringMatching(
          /^google_pubsub_subscription\.dead_letter has no alert on the backlog of each dead-letter subscription/,
        ),
      ]);
    });

    it('the DLQ alert watches another metric', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        '.name}\\" AND metric.type = \\"pubsub.googleapis.com/subscription/num_undelivered_messages',
        '.name}\\" AND metric.type = \\"pubsub.googleapis.com/subscription/ack_message_count',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        expect.stringMatching(/^google_pubsub_subscription\.dead_letter has no alert/),
      ]);
    });

    it('the DLQ alert is not made for each topic', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        /(resource "google_monitoring_alert_policy" "dead_letters" \{\n\s+for_each = )var\.topics/,
        '$1{ for k, v in var.topics : k => v if k != "analytics" }',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        expect.stringMatching(/^google_pubsub_subscription\.dead_letter has no alert/),
      ]);
    });

    it('another subscription on the DLQs has no alert', async () => {
      const config = await withExtra(
        infra,
        'pubsub.tf',
        [
          'resource "google_pubsub_subscription" "dead_letter_archive" {',
          '  for_each = var.topics',
          '',
          '  name  = "${each.value.dead_letter_topic}-archive"',
          '  topic = google_pubsub_topic.dead_letter[each.key].id',
          '}',
          '',
        ].join('\n'),
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        expect.stringMatching(
          /^google_pubsub_subscription\.dead_letter_archive has no alert on the backlog of each dead-letter subscription/,
        ),
      ]);
    });

    it('the consumer backlog alerts are removed', async () => {
      const config = await withoutBlock(
        infra,
        'monitoring.tf',
        'resource "google_monitoring_alert_policy" "consumer_backlog"',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        expect.stringMatching(
          /^google_pubsub_subscription\.consumer has no alert on the oldest unacked message of each consumer/,
        ),
      ]);
    });

    it.each([
      ['saga_parked', 'no google_monitoring_alert_policy watches parked sagas'],
      ['sagas_overdue', 'no google_monitoring_alert_policy watches overdue sagas'],
      ['outbox_behind', 'no google_monitoring_alert_policy watches the outbox oldest-unsent age'],
      ['housekeeping_failing', 'no google_monitoring_alert_policy watches housekeeping failing'],
      ['intake_errors', 'no google_monitoring_alert_policy watches the intake 5xx rate'],
      ['intake_latency', 'no google_monitoring_alert_policy watches the intake latency'],
    ])('the alert %s is removed', async (name, violation) => {
      const config = await withoutBlock(
        infra,
        'monitoring.tf',
        `resource "google_monitoring_alert_policy" "${name}"`,
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([violation]);
    });

    it('a watched gauge has no metric', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        /\n\s+sagas_needing_attention += \{[^\n]*\}/,
        '',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        'no google_monitoring_alert_policy watches parked sagas',
      ]);
    });

    it('an alert links no runbook', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        'Runbook: ${local.runbooks}/sagas-parked.md',
        'Ask the on-call engineer.',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        'google_monitoring_alert_policy.saga_parked links no runbook (its documentation must name ${local.runbooks}/<runbook>.md)',
      ]);
    });

    it('an alert links a runbook that does not exist', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        '${local.runbooks}/sagas-parked.md',
        '${local.runbooks}/parked.md',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        'google_monitoring_alert_policy.saga_parked links docs/runbooks/parked.md, which does not exist',
      ]);
    });

    it('a runbook does not say what the alert means, or how to repair it', () => {
      const parked = runbooks['sagas-parked.md']!;
      expect(
        checkAlertPolicy(infra, {
          ...runbooks,
          'sagas-parked.md': parked.replace('\n## What it means\n', '\n## Background\n'),
        }),
      ).toEqual(['docs/runbooks/sagas-parked.md has no section ## What it means']);
      const repair = parked.slice(parked.indexOf('\n## Repair\n'));
      expect(
        checkAlertPolicy(infra, {
          ...runbooks,
          'sagas-parked.md': parked.replace(repair, '\n## Repair\n\nCall someone.\n'),
        }),
      ).toEqual(['docs/runbooks/sagas-parked.md: its Repair section names no command']);
    });

    it('an alert notifies no one', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        /(resource "google_monitoring_alert_policy" "intake_latency" \{[\s\S]*?)notification_channels = var\.notification_channels/,
        '$1notification_channels = []',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        'google_monitoring_alert_policy.intake_latency does not notify var.notification_channels',
      ]);
    });

    it('the runbooks are somewhere else than this repository', async () => {
      const config = await edited(
        infra,
        'monitoring.tf',
        'runbooks = "https://github.com/${var.github_repository}/blob/${var.github_branch}/docs/runbooks"',
        'runbooks = "https://wiki.example/runbooks"',
      );
      expect(checkAlertPolicy(config, runbooks)).toEqual([
        "local.runbooks is not this repository's docs/runbooks",
      ]);
    });
  });
});
