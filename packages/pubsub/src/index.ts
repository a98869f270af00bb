export { createPubSubDeadLetters } from './dead-letters';
export { createPubSubBus } from './pubsub-bus';
export { createPubSubClient, type PubSubClientOptions } from './pubsub-client';
