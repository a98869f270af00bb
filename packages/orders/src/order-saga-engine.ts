import type { Database, OrderStatus } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { type ConsumerContext, UnprocessableEventError } from '@orders/runtime';
import { createSagaEngine } from '@orders/saga-engine';
import { createOrderSaga, type OrderSagaInput, type OrderSagaOptions } from '@orders/sagas';
import { type Kysely, sql } from 'kysely';
import { releaseStock, reserveStock, sellStock } from './inventory';

export interface OrderSagaEngineOptions extends OrderSagaOptions {
  maxCompensationAttempts: number;
}

/** The order saga on PostgreSQL, with its local steps on the order and stock tables. */
export function createOrderSagaEngine(db: Kysely<Database>, options: OrderSagaEngineOptions) {
  return createSagaEngine({
    definition: createOrderSaga(options),
    db,
    maxCompensationAttempts: options.maxCompensationAttempts,
    effects: {
      reserveStock: async (trx, { orderId, items }) => {
        const result = await reserveStock(trx, orderId, items);
        if (result.order !== 'found') {
          // No saga is left behind: refusing the input rolls back the transaction.
          throw new UnprocessableEventError(
            result.order === 'missing'
              ? `OrderPlaced of order ${orderId}, which does not exist: no row in orders (placed by another service, or never committed by intake)`
              : `OrderPlaced of order ${orderId} does not match the order: its items differ from the order's rows`,
          );
        }
        return result.reserved
          ? { type: 'StockReserved' as const }
          : { type: 'StockUnavailable' as const, skus: result.short };
      },
      releaseStock: async (trx, { orderId }) => {
        await releaseStock(trx, orderId);
        return undefined;
      },
      sellStock: async (trx, { orderId }) => {
        await sellStock(trx, orderId);
        return undefined;
      },
      // The saga never reads the order row back: its update goes with the saga's save.
      updateOrder: async (_trx, { orderId, status, cancelReason }, save) => {
        save.include(`orders:${orderId}`, orderStatusUpdate(orderId, status, cancelReason ?? null));
        return undefined;
      },
    },
  });
}

export type OrderSagaEngine = ReturnType<typeof createOrderSagaEngine>;

function orderStatusUpdate(orderId: string, status: OrderStatus, cancelReason: string | null) {
  return sql`
    update orders set status = ${status}, cancel_reason = ${cancelReason}, updated_at = now()
    where id = ${orderId}::uuid`;
}

const sagaEventTypes: ReadonlySet<string> = new Set<OrderSagaInput['type']>([
  'OrderPlaced',
  'PaymentSucceeded',
  'PaymentFailed',
  'PaymentRefunded',
]);

/** The consumer handler of topic order-saga: each event moves the saga of its order. */
export function orderSagaHandler(engine: OrderSagaEngine) {
  return async (event: DomainEvent, { trx, log, emitting }: ConsumerContext): Promise<void> => {
    if (!sagaEventTypes.has(event.type)) {
      throw new UnprocessableEventError(`the order saga does not handle ${event.type}`);
    }
    const status = await engine.apply(trx, event.subject, event as OrderSagaInput, {
      emitting,
      log,
      causationId: event.id,
    });
    if (status) log.info('order saga moved', { orderId: event.subject, status });
  };
}
