export {
  catalog,
  type EventData,
  type EventType,
  eventTypes,
  paymentIdOf,
  quantitySchema,
  skuSchema,
} from './catalog';
export type { DeadLetter, DeadLetters } from './dead-letters';
export {
  causedBy,
  createEvent,
  type DomainEvent,
  type Envelope,
  type EventOrigin,
  envelopeSchema,
  uuidPattern,
} from './envelope';
export { type CopyOutcome, type EventBus, type EventCopy, routedCopies } from './event-bus';
export { describeIssues, InvalidEventError } from './invalid-event-error';
export { eventJsonSchemas } from './json-schemas';
export { currencySchema, minorUnitsSchema, toMinorUnits } from './money';
export {
  decodeEnvelope,
  decodeMessage,
  defaultLegacyCurrency,
  type EncodedMessage,
  encodeEvent,
  type PubSubMessage,
} from './pubsub-codec';
export {
  type Delivery,
  deadLetterTopic,
  isProducer,
  mayEmit,
  type Producer,
  producerOf,
  producers,
  routes,
  routesOf,
  sagaTopic,
  type TopicName,
  topicConsumedBy,
  topics,
} from './topology';
