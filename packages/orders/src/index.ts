export { createIntakeApi, type IntakeApiOptions } from './intake-api';
export type { OrderView, Product } from './order-queries';
export { type OrderRequest, parseOrderRequest } from './order-request';
export { orderSagaConfigSchema, orderSagaOptions } from './order-saga-config';
export {
  createOrderSagaEngine,
  type OrderSagaEngine,
  type OrderSagaEngineOptions,
  orderSagaHandler,
} from './order-saga-engine';
export { insertPlacedOrder } from './order-writes';
export {
  type PlaceOrderDeps,
  type PlaceOrderInput,
  type PlaceOrderResult,
  placeOrder,
} from './place-order';
export {
  findRedriveCandidate,
  listStalledOrders,
  type RedriveCandidate,
  redriveOrder,
  redriveStalledOrders,
  type StalledOrder,
  type StalledOrdersReport,
} from './stalled-orders';
