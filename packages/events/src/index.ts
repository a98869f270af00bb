export {
  cancelReasons,
  catalog,
  type EventData,
  type EventType,
  eventTypes,
  isEventType,
  lineItemSchema,
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
} from './envelope';
export type { EventBus } from './event-bus';
export { describeIssues, InvalidEventError } from './invalid-event-error';
export { eventJsonSchemas } from './json-schemas';
export { currencySchema, minorUnitExponent, minorUnitsSchema, toMinorUnits } from './money';
export {
  decodeMessage,
  type EncodedMessage,
  encodeEvent,
  eventAttributes,
  type PubSubMessage,
} from './pubsub-codec';
export {
  type Delivery,
  deadLetterTopic,
  type FunctionName,
  functions,
  routes,
  type TopicName,
  type Trigger,
  topics,
  topicsFor,
} from './topology';
