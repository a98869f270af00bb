import { type EncodedMessage, type Envelope, type EventBus, encodeEvent } from '@orders/events';
import { rowTextOf } from './outbox';
import type { Publisher } from './publisher';
import { traceparentAttribute, traceparentOf } from './trace-context';

/**
 * Publishes each copy to its topic, with the order id as ordering key (see `createPublisher`
 * for how calls are grouped per topic): a topic that refuses its calls fails its own copies
 * only, each outcome carrying the publisher's error (a `PublishError` with the HTTP status).
 * Each message carries the trace context of the work that wrote its event (its outbox row's)
 * in `googclient_traceparent`, and an event written through `outboxRows` in this process
 * carries as data the JSON text its row was written with (encoded once: the same event as the
 * relay would send from the stored row, whose jsonb may order the keys differently); its
 * attributes come from the event's type, id and correlation id, which never change.
 */
export function createPubSubBus(publisher: Publisher): EventBus {
  return {
    async publish(copies) {
      // An event routed to two topics is encoded once.
      const encoded = new Map<Envelope, EncodedMessage>();
      const messageOf = (event: Envelope) => {
        let message = encoded.get(event);
        if (!message) {
          message = encodeEvent(event, rowTextOf(event));
          const traceparent = traceparentOf(event);
          if (traceparent) message.attributes[traceparentAttribute] = traceparent;
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
