import type { Database } from '@orders/db';
import { type DomainEvent, sagaTopic, topics } from '@orders/events';
import type { Logger } from '@orders/platform';
import { type Handled, isRetryable, UnprocessableEventError } from '@orders/runtime';
import { createSagaEngine, SagaInputRejectedError } from '@orders/saga-engine';
import type { Kysely } from 'kysely';
import { createOrderSaga, type OrderSagaInput, type OrderSagaOptions } from './order-saga';
import { createPostgresOrderStore } from './order-store';

export interface OrderSagaEngineOptions extends OrderSagaOptions {
  maxCompensationAttempts: number;
}

/**
 * The consumer of the saga's topic (process-order): the producer named in the saga's events,
 * and the consumer its inbox claims inputs for, wherever the saga runs (housekeeping wakes it).
 */
const owner = topics[sagaTopic].consumer;

/** The order saga on PostgreSQL: its decisions, carried out by the order store. */
export function createOrderSagaEngine(db: Kysely<Database>, options: OrderSagaEngineOptions) {
  return createSagaEngine({
    definition: createOrderSaga(options),
    store: createPostgresOrderStore(db, { consumer: owner }),
    source: owner,
    maxCompensationAttempts: options.maxCompensationAttempts,
    isRetryable,
  });
}

export type OrderSagaEngine = ReturnType<typeof createOrderSagaEngine>;

const sagaEventTypes: ReadonlySet<string> = new Set<OrderSagaInput['type']>([
  'OrderPlaced',
  'PaymentSucceeded',
  'PaymentFailed',
  'PaymentRefunded',
]);

/** The consumer handler of topic order-saga: each event moves the saga of its order. */
export function orderSagaHandler(engine: OrderSagaEngine) {
  return async (event: DomainEvent, { log }: { log: Logger }): Promise<Handled> => {
    if (!sagaEventTypes.has(event.type)) {
      throw new UnprocessableEventError(`the order saga does not handle ${event.type}`);
    }
    let applied: Awaited<ReturnType<OrderSagaEngine['apply']>>;
    try {
      applied = await engine.apply(event.subject, event as OrderSagaInput, {
        causationId: event.id,
        correlationId: event.correlationId,
        log,
      });
    } catch (error) {
      if (error instanceof SagaInputRejectedError) throw new UnprocessableEventError(error.reason);
      throw error;
    }
    if (applied === 'duplicate') return 'duplicate';
    if (applied) log.info('order saga moved', { orderId: event.subject, status: applied.status });
    return { emitted: applied?.emitted ?? [] };
  };
}
