import type { PubSub } from '@google-cloud/pubsub';
import { type Envelope, type EventBus, encodeEvent, routes, type TopicName } from '@orders/events';
import { topicPublishers } from './topic-publishers';

/**
 * Publishes each event to every topic its type routes to, with the order id as ordering
 * key. Publishers are made once per topic and batch for at most `maxBatchDelayMs`.
 */
export function createPubSubBus(
  pubsub: PubSub,
  { maxBatchDelayMs = 2 }: { maxBatchDelayMs?: number } = {},
): EventBus {
  const publisher = topicPublishers(pubsub, {
    messageOrdering: true,
    batching: { maxMessages: 100, maxMilliseconds: maxBatchDelayMs },
  });

  async function publishTo(name: TopicName, event: Envelope) {
    const topic = publisher(name);
    const message = encodeEvent(event);
    try {
      await topic.publishMessage(message);
    } catch (error) {
      // A failed publish pauses its ordering key until resumed; the outbox retries it.
      topic.resumePublishing(message.orderingKey);
      throw error;
    }
  }

  return {
    async publish(events) {
      const results = await Promise.allSettled(
        events.flatMap((event) =>
          routes[event.type as keyof typeof routes].map((name) => publishTo(name, event)),
        ),
      );
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failures.length > 0) {
        throw new AggregateError(
          failures.map((failure) => failure.reason),
          `${failures.length} of ${results.length} publishes failed`,
        );
      }
    },
  };
}
