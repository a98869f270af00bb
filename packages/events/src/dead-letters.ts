import type { PubSubMessage } from './pubsub-codec';

export interface DeadLetter {
  /** The topic the message came from; it goes to `<topic>-dlq`. */
  topic: string;
  message: PubSubMessage & { messageId?: string | undefined };
  reason: string;
  /** The function that refused it. */
  consumer: string;
}

/** Sends a message that can never be handled to its topic's dead-letter topic. */
export interface DeadLetters {
  send(deadLetter: DeadLetter): Promise<void>;
}
