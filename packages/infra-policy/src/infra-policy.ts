// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { checkAccessPolicy } from './access-policy';
import {
  firstBlock,
  isPubSubServiceAgent,
  refersTo,
  resourcesOf,
  type TerraformConfig,
} from './terraform-config';

/** The generated Terraform inputs (infra/topology.auto.tfvars.json) the policy checks against. */
export interface TopologyVariables {
  topics: Record<
    string,
    { consumer: string; dead_letter_topic: string; max_delivery_attempts: number }
  >;
  functions: Record<string, { entry_point: string; trigger_topic: string | null }>;
}

const publicMembers = ['allUsers', 'allAuthenticatedUsers'];
const invokerRoles = ['roles/run.invoker', 'roles/cloudfunctions.invoker'];
const perTopic = '${var.topics}';
const perFunction = '${var.functions}';

/**
 * Every rule the infrastructure must keep, as a list of violations (empty when it complies):
 * each topic has a dead-letter topic, a subscription on it and the Pub/Sub service agent
 * allowed to publish there; each function has its own service account; nothing is public;
 * the database and the consumers take internal traffic only; topic names come from var.topics.
 */
export function checkInfraPolicy(config: TerraformConfig, topology: TopologyVariables): string[] {
  return [
    ...checkTopology(topology),
    ...checkDeadLetters(config),
    ...checkServiceAccounts(config),
    ...checkNoPublicAccess(config),
    ...checkIngress(config),
    ...checkTopicNames(config, topology),
    ...checkAccessPolicy(config),
  ];
}

function checkTopology(topology: TopologyVariables): string[] {
  const violations: string[] = [];
  for (const [topic, settings] of Object.entries(topology.topics)) {
    if (!settings.dead_letter_topic) violations.push(`topic ${topic} has no dead-letter topic`);
    if (settings.max_delivery_attempts < 5 || settings.max_delivery_attempts > 100) {
      violations.push(`topic ${topic}: max_delivery_attempts must be 5 to 100`);
    }
    if (topology.functions[settings.consumer]?.trigger_topic !== topic) {
      violations.push(
        `topic ${topic}: its consumer ${settings.consumer} is not a function it triggers`,
      );
    }
  }
  return violations;
}

function checkDeadLetters(config: TerraformConfig): string[] {
  const topics = resourcesOf(config, 'google_pubsub_topic');
  const trigger = topics.find(
    ([, body]) => body.for_each === perTopic && body.name === '${each.key}',
  );
  const deadLetter = topics.find(
    ([, body]) => body.for_each === perTopic && body.name === '${each.value.dead_letter_topic}',
  );
  const violations: string[] = [];
  if (!trigger) violations.push('no google_pubsub_topic for each of var.topics (name = each.key)');
  if (!deadLetter) {
    violations.push(
      'no dead-letter google_pubsub_topic for each of var.topics (name = each.value.dead_letter_topic)',
    );
    return violations;
  }
  const dlqRef = `google_pubsub_topic.${deadLetter[0]}[each.key]`;
  const subscriptions = resourcesOf(config, 'google_pubsub_subscription');
  if (
    !subscriptions.some(([, body]) => body.for_each === perTopic && refersTo(body.topic, dlqRef))
  ) {
    violations.push('no google_pubsub_subscription on each dead-letter topic');
  }
  for (const [name, body] of subscriptions) {
    if (!refersTo(body.topic, `google_pubsub_topic.${deadLetter[0]}`) && !body.dead_letter_policy) {
      violations.push(
        `google_pubsub_subscription.${name} consumes a topic without a dead_letter_policy`,
      );
    }
  }
  const serviceAgentPublishes = resourcesOf(config, 'google_pubsub_topic_iam_member').some(
    ([, body]) =>
      body.for_each === perTopic &&
      refersTo(body.topic, dlqRef) &&
      body.role === 'roles/pubsub.publisher' &&
      isPubSubServiceAgent(config, body.member),
  );
  if (!serviceAgentPublishes) {
    violations.push('the Pub/Sub service agent cannot publish to each dead-letter topic');
  }
  return violations;
}

function checkServiceAccounts(config: TerraformConfig): string[] {
  const perFunctionAccount = resourcesOf(config, 'google_service_account').find(
    ([, body]) =>
      body.for_each === perFunction && String(body.account_id ?? '').includes('${each.key}'),
  );
  if (!perFunctionAccount) {
    return ['no google_service_account for each of var.functions (account_id from each.key)'];
  }
  const violations: string[] = [];
  const output = config.outputs.function_service_accounts?.[0];
  if (!refersTo(output?.value, `google_service_account.${perFunctionAccount[0]}`)) {
    violations.push('output function_service_accounts does not list the per-function accounts');
  }
  return violations;
}

/**
 * The intake's invoker: who may reach place-order through Cloud Run, `allUsers` by default
 * (its end users hold the identity provider's tokens, which the function verifies). The one
 * public binding there may be, on place-order and nothing else.
 */
const intakeInvoker = 'var.intake_invoker';
const intakeInvokerVariable = /variable\s+"intake_invoker"\s*\{[\s\S]*?\n\}/;

function checkNoPublicAccess(config: TerraformConfig): string[] {
  const violations: string[] = [];
  for (const [file, text] of Object.entries(config.files)) {
    // allUsers may be named as the intake invoker variable's default, nowhere else.
    const elsewhere = text.replace(intakeInvokerVariable, '');
    for (const member of publicMembers) {
      if (elsewhere.includes(member)) violations.push(`${file} grants to ${member}`);
    }
    const declared = intakeInvokerVariable.exec(text)?.[0];
    if (declared?.includes('allAuthenticatedUsers')) {
      violations.push(`${file}: intake_invoker may be allUsers or a service account, no other`);
    }
  }
  for (const [type, byName] of Object.entries(config.resources)) {
    for (const [name, bodies] of Object.entries(byName)) {
      for (const body of bodies) {
        const members = [body.member, ...(Array.isArray(body.members) ? body.members : [])];
        const intake = members.some((member) => refersTo(member, intakeInvoker));
        if (intake && (body.name !== 'place-order' || body.role !== 'roles/run.invoker')) {
          violations.push(
            `${type}.${name} grants ${String(body.role)} on ${String(body.name)} to ${intakeInvoker}: only place-order's run.invoker may`,
          );
        }
        if (!invokerRoles.includes(String(body.role))) continue;
        for (const member of members.filter((m) => m !== undefined)) {
          if (
            !String(member).includes('serviceAccount') &&
            !refersTo(member, 'google_service_account.') &&
            !(refersTo(member, intakeInvoker) && body.name === 'place-order')
          ) {
            violations.push(`${type}.${name} grants ${body.role} to ${String(member)}`);
          }
        }
      }
    }
  }
  return violations;
}

function checkIngress(config: TerraformConfig): string[] {
  const violations: string[] = [];
  for (const [name, body] of resourcesOf(config, 'google_sql_database_instance')) {
    const ip = firstBlock(firstBlock(body, 'settings'), 'ip_configuration');
    if (ip?.ipv4_enabled !== false) {
      violations.push(
        `google_sql_database_instance.${name} has a public IP (ipv4_enabled must be false)`,
      );
    }
    if (ip?.authorized_networks !== undefined) {
      violations.push(`google_sql_database_instance.${name} has authorized_networks`);
    }
  }
  const ingress = String(config.locals.function_ingress ?? '');
  if (!/trigger_topic\s*==\s*null\s*\?\s*"all"\s*:\s*"internal-only"/.test(ingress)) {
    violations.push('local.function_ingress does not restrict every consumer to internal-only');
  }
  if (!refersTo(config.outputs.function_ingress?.[0]?.value, 'local.function_ingress')) {
    violations.push('output function_ingress does not give the deploy step the ingress settings');
  }
  return violations;
}

function checkTopicNames(config: TerraformConfig, topology: TopologyVariables): string[] {
  const names = Object.entries(topology.topics).flatMap(([topic, s]) => [
    topic,
    s.dead_letter_topic,
  ]);
  const violations: string[] = [];
  for (const [file, text] of Object.entries(config.files)) {
    const code = text
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'))
      .join('\n');
    for (const name of names) {
      const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (new RegExp(`"${escaped}"|topics/${escaped}\\b`).test(code)) {
        violations.push(`${file} hard-codes the topic name "${name}": take it from var.topics`);
      }
    }
  }
  return violations;
}
