import { type EncodedMessage, type Envelope, type EventBus, encodeEvent } from '@orders/events';
import type { Publisher } from './publisher';

/**
 * Publishes each copy to its topic, with the order id as ordering key (see `createPublisher`
 * for how calls are grouped per topic): a topic that refuses its calls fails its own copies
 * only, each outcome carrying the publisher's error (a `PublishError` with the HTTP status).
 */
export function createPubSubBus(publisher: Publisher): EventBus {
  return {
    async publish(copies) {
      // An event routed to two topics is encoded once.
      const encoded = new Map<Envelope, EncodedMessage>();
      const messageOf = (event: Envelope) => {
        let message = encoded.get(event);
        if (!message) {
          message = encodeEvent(event);
          encoded.set(event, message);
        }
        return message;
      };
      const results = await Promise.allSettled(
        copies.map((copy) => publisher.publish(copy.topic, messageOf(copy.event))),
      );
      return results.map((result, index) =>
        result.status === 'fulfilled'
          ? { ...copies[index]!, published: true }
          : { ...copies[index]!, published: false, error: result.reason },
      );
    },
  };
}
