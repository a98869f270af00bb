export { createPubSubDeadLetters } from './dead-letters';
export {
  createOutbox,
  type FailingRoute,
  type Outbox,
  type OutboxRow,
  outboxRows,
  purgeSentRows,
  type RelayOptions,
  type RelayReport,
  resendToTopic,
  type SetAsideRow,
} from './outbox';
export { type OutboxGauges, readOutboxGauges } from './outbox-gauges';
export { type OutboxRetry, retryOutboxRow } from './outbox-repair';
export {
  createPublisher,
  type OutgoingMessage,
  PublishError,
  type Publisher,
  type PublishTarget,
} from './publisher';
export { createPubSubBus } from './pubsub-bus';
export { createPubSubClient, type PubSubClientOptions } from './pubsub-client';
export {
  activeTraceparent,
  runInTrace,
  traceOfMessage,
  traceparentAttribute,
} from './trace-context';
