export { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';
export { createIntakeApi, type IntakeApiOptions } from './intake-api';
export {
  createPostgresIntakeStore,
  type IntakeStore,
  type IntakeStoreOptions,
  type KeyClaim,
  type KeyOutcome,
  purgeExpiredKeys,
} from './intake-store';
export type { OrderView, Product } from './order-queries';
export { type OrderRequest, parseOrderRequest } from './order-request';
export {
  createOrderSaga,
  type OrderSaga,
  type OrderSagaInput,
  type OrderSagaIntent,
  type OrderSagaOptions,
  type OrderSagaState,
  type OrderSagaStatus,
  type OrderStatus,
  orderSagaStatuses,
  orderSagaType,
  orderStatusOf,
  type ReserveStock,
} from './order-saga';
export {
  orderSagaConfigSchema,
  orderSagaOptions,
  orderSagaSettingsSchema,
} from './order-saga-config';
export { orderSagaDiagram } from './order-saga-diagram';
export {
  createOrderSagaEngine,
  type OrderSagaEngine,
  type OrderSagaEngineOptions,
  orderSagaHandler,
} from './order-saga-engine';
export {
  planSagaRetry,
  retryParkedSaga,
  type SagaRetryOutcome,
  type SagaRetryPlan,
} from './order-saga-retry';
export { createPostgresOrderStore, type OrderStore } from './order-store';
export {
  type PlaceOrderDeps,
  type PlaceOrderInput,
  type PlaceOrderResult,
  placeOrder,
} from './place-order';
export {
  type Batches,
  type Purge,
  purgeClaims,
  purgeKeys,
  purgeRestingSagaHistory,
  purgeSentOutbox,
} from './retention';
export {
  isOverdue,
  overdueSecondsOf,
  readSagaGauges,
  type SagaGauges,
} from './saga-gauges';
export {
  findRedriveCandidate,
  listStalledOrders,
  type RedriveCandidate,
  redriveOrder,
  redriveStalledOrders,
  type StalledOrder,
  type StalledOrdersReport,
} from './stalled-orders';
