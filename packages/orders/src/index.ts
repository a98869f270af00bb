export { createIntakeApi, type IntakeApiOptions } from './intake-api';
export type { OrderView, Product } from './order-queries';
export { type OrderRequest, parseOrderRequest } from './order-request';
export {
  type PlaceOrderDeps,
  type PlaceOrderInput,
  type PlaceOrderResult,
  placeOrder,
} from './place-order';
