import type { Message, PubSub } from '@google-cloud/pubsub';

/**
 * Pulls and acks up to `count` messages from a subscription, waiting at most `timeoutMs`
 * for them; fewer (or none) come back when fewer arrive. For tests and tools.
 */
export async function pullMessages(
  pubsub: PubSub,
  subscription: string,
  { count, timeoutMs = 10_000 }: { count: number; timeoutMs?: number },
): Promise<Message[]> {
  const messages: Message[] = [];
  const subscriber = pubsub.subscription(subscription, {
    flowControl: { maxMessages: count, allowExcessMessages: false },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, timeoutMs);
      subscriber.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      subscriber.on('message', (message: Message) => {
        if (messages.length >= count) return message.nack();
        message.ack();
        messages.push(message);
        if (messages.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    subscriber.removeAllListeners();
    await subscriber.close();
  }
  return messages;
}
