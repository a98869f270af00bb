import { type DeadLetters, deadLetterTopic } from '@orders/events';
import { type PubSubSource, topicPublishers } from './topic-publishers';

/**
 * Republishes the original bytes and attributes unchanged, plus `dlq_reason`,
 * `dlq_consumer`, `dlq_source_topic`, `dlq_original_message_id` and `dlq_at`, so the DLQ
 * tools can show why and replay to the original topic. Given a function, makes the client on
 * the first dead letter.
 */
export function createPubSubDeadLetters(pubsub: PubSubSource): DeadLetters {
  const publisher = topicPublishers(pubsub, { batching: { maxMessages: 100, maxMilliseconds: 2 } });
  return {
    async send({ topic, message, reason, consumer }) {
      const data =
        typeof message.data === 'string'
          ? Buffer.from(message.data, 'base64')
          : Buffer.from(message.data ?? []);
      await publisher(deadLetterTopic(topic)).publishMessage({
        data,
        attributes: {
          ...message.attributes,
          dlq_reason: reason.slice(0, 1024),
          dlq_consumer: consumer,
          dlq_source_topic: topic,
          dlq_original_message_id: message.messageId ?? '',
          dlq_at: new Date().toISOString(),
        },
      });
    },
  };
}
