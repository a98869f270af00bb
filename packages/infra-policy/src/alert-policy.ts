// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HclBody, refersTo, resourcesOf, type TerraformConfig } from './terraform-config';

/** The runbooks an alert may link: file name in docs/runbooks/ => its markdown. */
export type Runbooks = Record<string, string>;

/** Reads every `.md` file directly in `dir` (docs/runbooks). */
export async function loadRunbooks(dir: string): Promise<Runbooks> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.md')).sort();
  const runbooks: Runbooks = {};
  for (const name of names) runbooks[name] = await readFile(join(dir, name), 'utf8');
  return runbooks;
}

const alertType = 'google_monitoring_alert_policy';
const runbookLink = /\$\{local\.runbooks\}\/([\w.-]+\.md)/g;
/** What a runbook must say: what the alert means, and the command that repairs it. */
const runbookSections = ['## What it means', '## Repair'];
const repairCommand = /`(pnpm|gcloud|psql) [^`]+`/;

/** Housekeeping's gauges an alert must watch, and what each tells. */
const watchedGauges: Record<string, string> = {
  outbox_oldest_unsent_age_seconds: 'the outbox oldest-unsent age',
  sagas_overdue: 'overdue sagas',
  sagas_needing_attention: 'parked sagas',
};
/** The other metrics an alert must watch. */
const watchedMetrics: [string, RegExp][] = [
  ['housekeeping failing', /google_logging_metric\.housekeeping_step_failures\b/],
  ['the intake 5xx rate', /run\.googleapis\.com\/request_count.*5xx/],
  ['the intake latency', /run\.googleapis\.com\/request_latencies/],
];

/**
 * The alerting rules: every dead-letter subscription has an alert on its backlog and every
 * consumer subscription one on its oldest unacked message, generated from the same
 * `for_each` as the subscriptions; the other alerts are there; every alert policy
 * notifies var.notification_channels and its documentation links a runbook of
 * docs/runbooks/ that exists and says what the alert means and which command repairs it.
 */
export function checkAlertPolicy(config: TerraformConfig, runbooks: Runbooks): string[] {
  const alerts = resourcesOf(config, alertType);
  return [
    ...checkRunbookBase(config),
    ...checkSubscriptionAlerts(config, alerts),
    ...checkRequiredWatches(config, alerts),
    ...alerts.flatMap(([name, body]) => checkAlert(name, body, runbooks)),
  ];
}

function checkRunbookBase(config: TerraformConfig): string[] {
  const base = String(config.locals.runbooks ?? '');
  return refersTo(base, 'var.github_repository') && base.endsWith('/docs/runbooks')
    ? []
    : ["local.runbooks is not this repository's docs/runbooks"];
}

function deadLetterTopicNames(config: TerraformConfig): string[] {
  return resourcesOf(config, 'google_pubsub_topic')
    .filter(([, body]) => body.name === '${each.value.dead_letter_topic}')
    .map(([name]) => name);
}

function checkSubscriptionAlerts(config: TerraformConfig, alerts: [string, HclBody][]): string[] {
  const deadLetterTopics = deadLetterTopicNames(config);
  const violations: string[] = [];
  for (const [name, body] of resourcesOf(config, 'google_pubsub_subscription')) {
    const onDeadLetters = deadLetterTopics.some((topic) =>
      refersTo(body.topic, `google_pubsub_topic.${topic}`),
    );
    const [metric, what] = onDeadLetters
      ? ['subscription/num_undelivered_messages', 'the backlog of each dead-letter subscription']
      : ['subscription/oldest_unacked_message_age', 'the oldest unacked message of each consumer'];
    const watched = alerts.some(
      ([, alert]) =>
        alert.for_each === body.for_each &&
        conditionFilters(alert).some(
          (filter) =>
            filter.includes(metric) &&
            refersTo(
              filter,
              `google_pubsub_subscription.${name}${body.for_each ? '[each.key]' : ''}.name`,
            ),
        ),
    );
    if (!watched) {
      violations.push(
        `google_pubsub_subscription.${name} has no alert on ${what} (an ${alertType} with its for_each whose filter names ${metric} of google_pubsub_subscription.${name})`,
      );
    }
  }
  return violations;
}

/**
 * A gauge is watched through its metric (google_logging_metric.gauge, one per key of
 * local.gauges), named directly or through local.gauge_filter.
 */
function checkRequiredWatches(config: TerraformConfig, alerts: [string, HclBody][]): string[] {
  const filters = alerts.flatMap(([, alert]) => conditionFilters(alert));
  const gauges = Object.keys((config.locals.gauges as HclBody | undefined) ?? {});
  const gaugeWatches = Object.entries(watchedGauges).map(([gauge, what]): [string, RegExp] => [
    what,
    gauges.includes(gauge)
      ? new RegExp(`(local\\.gauge_filter\\.|google_logging_metric\\.gauge\\["?)${gauge}\\b`)
      : /$^/,
  ]);
  return [...gaugeWatches, ...watchedMetrics]
    .filter(([, metric]) => !filters.some((filter) => metric.test(filter)))
    .map(([what]) => `no ${alertType} watches ${what}`);
}

function checkAlert(name: string, alert: HclBody, runbooks: Runbooks): string[] {
  const violations: string[] = [];
  const resource = `${alertType}.${name}`;
  if (alert.notification_channels !== '${var.notification_channels}') {
    violations.push(`${resource} does not notify var.notification_channels`);
  }
  const documentation = (alert.documentation as HclBody[] | undefined)?.[0];
  const links = [...String(documentation?.content ?? '').matchAll(runbookLink)].map(
    (match) => match[1]!,
  );
  if (links.length === 0) {
    violations.push(
      `${resource} links no runbook (its documentation must name \${local.runbooks}/<runbook>.md)`,
    );
  }
  for (const link of links) {
    const runbook = runbooks[link];
    if (runbook === undefined) {
      violations.push(`${resource} links docs/runbooks/${link}, which does not exist`);
      continue;
    }
    const missing = runbookSections.filter((section) => !runbook.includes(`\n${section}\n`));
    if (missing.length > 0) {
      violations.push(`docs/runbooks/${link} has no section ${missing.join(', ')}`);
    }
    const repair = runbook.split('\n## Repair\n')[1]?.split('\n## ')[0] ?? '';
    if (missing.length === 0 && !repairCommand.test(repair)) {
      violations.push(`docs/runbooks/${link}: its Repair section names no command`);
    }
  }
  return violations;
}

function conditionFilters(alert: HclBody): string[] {
  const conditions = (alert.conditions as HclBody[] | undefined) ?? [];
  return conditions.flatMap((condition) =>
    ['condition_threshold', 'condition_absent'].flatMap((kind) =>
      ((condition[kind] as HclBody[] | undefined) ?? []).map((c) => String(c.filter ?? '')),
    ),
  );
}
