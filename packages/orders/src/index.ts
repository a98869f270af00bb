export { createIntakeApi, type IntakeApiOptions } from './intake-api';
export {
  findOrder,
  findPrices,
  listProducts,
  type OrderView,
  type Product,
} from './order-queries';
export { jsonPointer, type OrderRequest, parseOrderRequest } from './order-request';
export { insertPlacedOrder } from './order-writes';
export {
  type PlaceOrderDeps,
  type PlaceOrderInput,
  type PlaceOrderResult,
  placeOrder,
} from './place-order';
