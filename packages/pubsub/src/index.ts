export { createPubSubDeadLetters } from './dead-letters';
export {
  createPublisher,
  type OutgoingMessage,
  PublishError,
  type Publisher,
  type PublishTarget,
} from './publisher';
export { createPubSubBus } from './pubsub-bus';
export { createPubSubClient, type PubSubClientOptions } from './pubsub-client';
