import type { Database, OrderStatus } from '@orders/db';
import type { Kysely } from 'kysely';
import type { OrderRecord } from './order-timeline';

/** One `orders` row as the tools show it (`pnpm orders show`, `pnpm trace`). */
export interface OrderRow {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  cancelReason: string | null;
  totalMinor: number;
  currency: string;
  correlationId: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The order `orderId`; undefined for an unknown order. */
export async function findOrder(
  db: Kysely<Database>,
  orderId: string,
): Promise<OrderRow | undefined> {
  const order = await db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', orderId)
    .executeTakeFirst();
  return (
    order && {
      orderId: order.id,
      customerId: order.customer_id,
      status: order.status,
      cancelReason: order.cancel_reason,
      totalMinor: order.total_minor,
      currency: order.currency,
      correlationId: order.correlation_id,
      createdAt: order.created_at,
      updatedAt: order.updated_at,
    }
  );
}

/** The order and the outbox rows of its events; undefined for an unknown order. */
export async function findOrderRecord(
  db: Kysely<Database>,
  orderId: string,
): Promise<OrderRecord | undefined> {
  const order = await findOrder(db, orderId);
  if (!order) return undefined;
  const events = await db
    .selectFrom('outbox')
    .select((eb) => [
      'id',
      eb.ref('event', '->>').key('type').as('type'),
      'producer',
      'traceparent',
      'created_at',
      'sent_at',
      'attempts',
      'set_aside_reason',
    ])
    .where((eb) => eb(eb.ref('event', '->>').key('subject'), '=', orderId))
    .orderBy('created_at')
    .execute();
  return {
    orderId: order.orderId,
    status: order.status,
    cancelReason: order.cancelReason,
    correlationId: order.correlationId,
    createdAt: order.createdAt,
    events: events.map((event) => ({
      id: event.id,
      type: String(event.type),
      producer: event.producer,
      traceparent: event.traceparent,
      writtenAt: event.created_at,
      sentAt: event.sent_at,
      attempts: event.attempts,
      setAsideReason: event.set_aside_reason,
    })),
  };
}
