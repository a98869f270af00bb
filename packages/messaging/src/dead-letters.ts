import { type DeadLetters, deadLetterTopic } from '@orders/events';
import { attributeValue } from './attribute-limits';
import type { Publisher } from './publisher';

/**
 * Republishes the original bytes and attributes unchanged, plus `dlq_reason`,
 * `dlq_consumer`, `dlq_source_topic`, `dlq_original_message_id` and `dlq_at`, so the DLQ
 * tools can show why and replay to the original topic. A long reason is cut to what an
 * attribute may hold (1024 bytes), so that dead-lettering never fails on it.
 */
export function createPubSubDeadLetters(publisher: Publisher): DeadLetters {
  return {
    async send({ topic, message, reason, consumer }) {
      const data =
        typeof message.data === 'string'
          ? Buffer.from(message.data, 'base64')
          : Buffer.from(message.data ?? []);
      await publisher.publish(deadLetterTopic(topic), {
        data,
        attributes: {
          ...message.attributes,
          dlq_reason: attributeValue(reason),
          dlq_consumer: consumer,
          dlq_source_topic: topic,
          dlq_original_message_id: message.messageId ?? '',
          dlq_at: new Date().toISOString(),
        },
      });
    },
  };
}
