export {
  createOrderSaga,
  type OrderSaga,
  type OrderSagaCommand,
  type OrderSagaInput,
  type OrderSagaOptions,
  type OrderSagaState,
  type OrderSagaStatus,
  paymentIdOf,
} from './order-saga';
export {
  type DecideContext,
  decision,
  isLegalTransition,
  NEW,
  type Outcome,
  type SagaDefinition,
} from './saga';
