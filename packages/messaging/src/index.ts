export { createPubSubDeadLetters } from './dead-letters';
export { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';
export {
  createOutbox,
  type FailingRoute,
  type Outbox,
  type RelayOptions,
  type RelayReport,
  type SetAsideRow,
} from './outbox';
export {
  createPublisher,
  type OutgoingMessage,
  PublishError,
  type Publisher,
  type PublishTarget,
} from './publisher';
export { createPubSubBus } from './pubsub-bus';
export { createPubSubClient, type PubSubClientOptions } from './pubsub-client';
export { requestFingerprint } from './request-fingerprint';
