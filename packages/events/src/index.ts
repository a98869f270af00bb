export {
  catalog,
  type EventData,
  type EventType,
  eventTypes,
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
export { forEachConcurrently } from './for-each-concurrently';
export { type GroupedCallsOptions, groupedCalls } from './grouped-calls';
export { describeIssues, InvalidEventError } from './invalid-event-error';
export { eventJsonSchemas } from './json-schemas';
export { messageOf, stackOf } from './message-of';
export { currencySchema, minorUnitsSchema, toMinorUnits } from './money';
export { percentile } from './percentile';
export {
  decodeMessage,
  defaultLegacyCurrency,
  type EncodedMessage,
  encodeEvent,
  type PubSubMessage,
} from './pubsub-codec';
export { type PythonOrderPlaced, pythonReferenceOrderPlaced } from './python-reference';
export { seededShare } from './seeded-share';
export { type TextTableOptions, textTable } from './text-table';
export {
  type Delivery,
  deadLetterTopic,
  type FunctionName,
  functions,
  routes,
  routesOf,
  sagaTopic,
  type TopicName,
  type Trigger,
  topics,
} from './topology';
export { UsageError } from './usage-error';
