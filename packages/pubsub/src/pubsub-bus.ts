import { type EventBus, encodeEvent, routes } from '@orders/events';
import type { Publisher } from './publisher';

/**
 * Publishes each event to every topic its type routes to, with the order id as ordering key
 * (see `createPublisher` for how calls are grouped).
 */
export function createPubSubBus(publisher: Publisher): EventBus {
  return {
    async publish(events) {
      const results = await Promise.allSettled(
        events.flatMap((event) => {
          const message = encodeEvent(event);
          return routes[event.type as keyof typeof routes].map((topic) =>
            publisher.publish(topic, message),
          );
        }),
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
