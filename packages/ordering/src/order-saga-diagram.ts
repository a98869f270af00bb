import { sagaDiagram } from '@orders/saga-engine';
import { createOrderSaga, type OrderSagaOptions } from './order-saga';

/**
 * The order saga's legal moves as a Mermaid state diagram, generated from its definition:
 * what docs/architecture.md holds and `pnpm sagas diagram` prints.
 */
export function orderSagaDiagram(options: OrderSagaOptions): string {
  return sagaDiagram(createOrderSaga(options).transitions);
}
