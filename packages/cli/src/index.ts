export type { DeadLetter } from './dead-letter';
export {
  createPubSubDeadLetterQueue,
  type DeadLetterQueue,
  DeadLetterQueueUnavailableError,
  DeadLetterSubscriptionMissingError,
  type PubSubDeadLetterQueueOptions,
  type ReplayOutcome,
} from './dead-letter-queue';
export { type DemoRun, type DemoRunOptions, runDemo } from './demo-run';
export type { DemoSummary, TrackedOrder } from './demo-summary';
export {
  createHttpIntakeClient,
  type IntakeClient,
  IntakeRequestError,
  IntakeUnreachableError,
} from './intake-client';
export {
  type CatalogProduct,
  type OrderScenario,
  type PlannedOrder,
  planOrders,
} from './order-mix';
export { findSagaHistory, type SagaHistory } from './saga-history';
export { type ListSagasOptions, listSagas, type SagaListing } from './saga-listing';
export {
  DevStackFileError,
  locateStack,
  readDevStack,
  type StackLocation,
} from './stack-location';
