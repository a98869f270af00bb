import type { PublishOptions, PubSub, Topic } from '@google-cloud/pubsub';

/**
 * One publisher per topic for the life of the process: a Topic holds its batches, so making
 * one per message would wait out a fresh batch window each time.
 */
export function topicPublishers(pubsub: PubSub, options: PublishOptions): (name: string) => Topic {
  const publishers = new Map<string, Topic>();
  return (name) => {
    let topic = publishers.get(name);
    if (!topic) {
      topic = pubsub.topic(name, options);
      publishers.set(name, topic);
    }
    return topic;
  };
}
