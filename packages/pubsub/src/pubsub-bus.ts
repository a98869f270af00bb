import type { Topic } from '@google-cloud/pubsub';
import { type Envelope, type EventBus, encodeEvent, routes, type TopicName } from '@orders/events';
import { type PubSubSource, topicPublishers } from './topic-publishers';

interface Queued {
  message: { data: Buffer; attributes: Record<string, string> };
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Publishes each event to every topic its type routes to, in batches: a message is sent at
 * once when its topic has no publish call in flight, else with every message that queued
 * meanwhile, in the next call (as a database groups commits). A lone request waits for no
 * timer, and under load one call carries the events of many requests.
 *
 * WARNING: messages carry no ordering key. Nothing depends on order (subscriptions are
 * unordered, and redelivery reorders anyway), and with a key per order the client sends every
 * message in a publish call of its own: under load, several times fewer publishes per second.
 */
export function createPubSubBus(pubsub: PubSubSource): EventBus {
  // The client's own batching only sends when flushed (or when a batch is full).
  const publisher = topicPublishers(pubsub, {
    batching: { maxMessages: 1_000, maxMilliseconds: 60_000 },
  });
  const queues = new Map<TopicName, { queued: Queued[]; sending: boolean }>();

  async function send(topic: Topic, batch: Queued[]) {
    const results = batch.map(({ message }) => topic.publishMessage(message));
    // Each message's own promise carries the outcome of the call that sent it.
    const [settled] = await Promise.all([
      Promise.allSettled(results),
      topic.flush().catch(() => undefined),
    ]);
    settled.forEach((result, i) => {
      if (result.status === 'fulfilled') batch[i]!.resolve();
      else batch[i]!.reject(result.reason);
    });
  }

  async function drain(name: TopicName, queue: { queued: Queued[]; sending: boolean }) {
    queue.sending = true;
    try {
      while (queue.queued.length > 0) {
        const batch = queue.queued.splice(0);
        await send(publisher(name), batch).catch((error: unknown) => {
          for (const item of batch) item.reject(error);
        });
      }
    } finally {
      queue.sending = false;
    }
  }

  function publishTo(name: TopicName, event: Envelope): Promise<void> {
    const { data, attributes } = encodeEvent(event);
    return new Promise((resolve, reject) => {
      let queue = queues.get(name);
      if (!queue) {
        queue = { queued: [], sending: false };
        queues.set(name, queue);
      }
      queue.queued.push({ message: { data, attributes }, resolve, reject });
      if (!queue.sending) void drain(name, queue);
    });
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
