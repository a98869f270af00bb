import type { Database, OrderStatus } from '@orders/db';
import type { Kysely } from 'kysely';

/** One saga as `sagas show` shows it: its row, its order, and every transition in order. */
export interface SagaHistory {
  saga: {
    orderId: string;
    type: string;
    status: string;
    version: number;
    correlationId: string;
    deadlineAt: string | null;
    failedAttempts: number;
    lastError: string | null;
    createdAt: string;
    updatedAt: string;
    /** The saga's own state, as it persists it. */
    state: Record<string, unknown>;
  };
  /** Null when the saga has no order row (it should always have one). */
  order: {
    status: OrderStatus;
    cancelReason: string | null;
    totalMinor: number;
    currency: string;
    customerId: string;
  } | null;
  transitions: SagaTransition[];
}

interface SagaTransition {
  version: number;
  /** `NEW` for the first. */
  from: string | null;
  to: string;
  /** The input that caused it: an event type, or the saga's own (StockReserved, DeadlinePassed). */
  cause: string;
  /** The event delivered (for a step's outcome such as StockReserved, the one that began it); null for a deadline. */
  causeEventId: string | null;
  note: string | null;
  at: string;
}

/**
 * The saga of order `orderId` (of saga type `type`), read in one snapshot so that its history
 * ends at its version; undefined when there is none.
 */
export async function findSagaHistory(
  db: Kysely<Database>,
  { type, orderId }: { type: string; orderId: string },
): Promise<SagaHistory | undefined> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const saga = await trx
        .selectFrom('sagas')
        .selectAll()
        .where('id', '=', orderId)
        .where('type', '=', type)
        .executeTakeFirst();
      if (!saga) return undefined;
      const order = await trx
        .selectFrom('orders')
        .select(['status', 'cancel_reason', 'total_minor', 'currency', 'customer_id'])
        .where('id', '=', orderId)
        .executeTakeFirst();
      const transitions = await trx
        .selectFrom('saga_transitions')
        .selectAll()
        .where('saga_id', '=', orderId)
        .orderBy('version')
        .execute();
      return {
        saga: {
          orderId: saga.id,
          type: saga.type,
          status: saga.status,
          version: saga.version,
          correlationId: saga.correlation_id,
          deadlineAt: saga.deadline_at?.toISOString() ?? null,
          failedAttempts: saga.failed_attempts,
          lastError: saga.last_error,
          createdAt: saga.created_at.toISOString(),
          updatedAt: saga.updated_at.toISOString(),
          state: saga.state,
        },
        order: order
          ? {
              status: order.status,
              cancelReason: order.cancel_reason,
              totalMinor: order.total_minor,
              currency: order.currency,
              customerId: order.customer_id,
            }
          : null,
        transitions: transitions.map((row) => ({
          version: row.version,
          from: row.from_status,
          to: row.to_status,
          cause: row.cause_type,
          causeEventId: row.cause_event_id,
          note: row.note,
          at: row.at.toISOString(),
        })),
      };
    });
}
