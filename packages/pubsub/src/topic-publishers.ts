import type { PublishOptions, PubSub, Topic } from '@google-cloud/pubsub';

/** A Pub/Sub client, or how to make one when it is first needed (see `createPubSubClient`). */
export type PubSubSource = PubSub | (() => PubSub);

/**
 * One publisher per topic for the life of the process: a Topic holds its batches, so making
 * one per message would wait out a fresh batch window each time. The client is made on the
 * first publish when `source` is a function.
 */
export function topicPublishers(
  source: PubSubSource,
  options: PublishOptions,
): (name: string) => Topic {
  const publishers = new Map<string, Topic>();
  let pubsub: PubSub | undefined;
  return (name) => {
    let topic = publishers.get(name);
    if (!topic) {
      pubsub ??= typeof source === 'function' ? source() : source;
      topic = pubsub.topic(name, options);
      publishers.set(name, topic);
    }
    return topic;
  };
}
