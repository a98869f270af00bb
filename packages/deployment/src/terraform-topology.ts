import { deadLetterTopic, routes, topics } from '@orders/events';
import { functions } from './deployed-functions';

/**
 * The topology as Terraform input (`infra/topology.auto.tfvars.json`), generated from the
 * one declaration so that infrastructure never keeps a second copy of it.
 */
export function terraformTopology() {
  return {
    topics: Object.fromEntries(
      Object.entries(topics).map(([name, { consumer, delivery }]) => [
        name,
        {
          consumer,
          dead_letter_topic: deadLetterTopic(name),
          ack_deadline_seconds: delivery.ackDeadlineSeconds,
          minimum_backoff_seconds: delivery.minimumBackoffSeconds,
          maximum_backoff_seconds: delivery.maximumBackoffSeconds,
          max_delivery_attempts: delivery.maxDeliveryAttempts,
        },
      ]),
    ),
    functions: Object.fromEntries(
      Object.entries(functions).map(([name, { entryPoint, trigger }]) => [
        name,
        { entry_point: entryPoint, trigger_topic: trigger.kind === 'topic' ? trigger.topic : null },
      ]),
    ),
    routes: { ...routes },
  };
}
