import type { Database, OrderStatus } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { type ConsumerContext, UnprocessableEventError } from '@orders/runtime';
import { createSagaEngine } from '@orders/saga-engine';
import { createOrderSaga, type OrderSagaInput, type OrderSagaOptions } from '@orders/sagas';
import { type Kysely, sql } from 'kysely';
import { releaseStock, reserveStock, sellStock } from './inventory';

export interface OrderSagaEngineOptions extends OrderSagaOptions {
  maxCompensationAttempts: number;
  now?: () => Date;
}

/** The order saga on PostgreSQL, with its local steps on the order and stock tables. */
export function createOrderSagaEngine(db: Kysely<Database>, options: OrderSagaEngineOptions) {
  return createSagaEngine({
    definition: createOrderSaga(options),
    db,
    maxCompensationAttempts: options.maxCompensationAttempts,
    ...(options.now ? { now: options.now } : {}),
    effects: {
      reserveStock: async (trx, { orderId, items }) => {
        const result = await reserveStock(trx, orderId, items);
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
      updateOrder: async (trx, { orderId, status, cancelReason }) => {
        await updateOrderStatus(trx, orderId, status, cancelReason ?? null);
        return undefined;
      },
    },
  });
}

export type OrderSagaEngine = ReturnType<typeof createOrderSagaEngine>;

async function updateOrderStatus(
  trx: Kysely<Database>,
  orderId: string,
  status: OrderStatus,
  cancelReason: string | null,
): Promise<void> {
  await trx
    .updateTable('orders')
    .set({ status, cancel_reason: cancelReason, updated_at: sql<Date>`now()` })
    .where('id', '=', orderId)
    .execute();
}

const sagaEventTypes: ReadonlySet<string> = new Set<OrderSagaInput['type']>([
  'OrderPlaced',
  'PaymentSucceeded',
  'PaymentFailed',
  'PaymentRefunded',
]);

/** The consumer handler of topic order-saga: each event moves the saga of its order. */
export function orderSagaHandler(engine: OrderSagaEngine) {
  return async (event: DomainEvent, { trx, log, emit }: ConsumerContext): Promise<void> => {
    if (!sagaEventTypes.has(event.type)) {
      throw new UnprocessableEventError(`the order saga does not handle ${event.type}`);
    }
    const status = await engine.apply(trx, event.subject, event as OrderSagaInput, {
      emit,
      log,
      causationId: event.id,
    });
    if (status) log.info('order saga moved', { orderId: event.subject, status });
  };
}
