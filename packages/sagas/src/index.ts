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
  orderStatusOf,
  paymentIdOf,
  type ReserveStock,
} from './order-saga';
