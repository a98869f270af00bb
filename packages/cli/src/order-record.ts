import type { Database } from '@orders/db';
import type { Kysely } from 'kysely';
import type { OrderRecord } from './order-timeline';

/** The order and the outbox rows of its events; undefined for an unknown order. */
export async function findOrderRecord(
  db: Kysely<Database>,
  orderId: string,
): Promise<OrderRecord | undefined> {
  const order = await db
    .selectFrom('orders')
    .select(['id', 'status', 'cancel_reason', 'correlation_id', 'created_at'])
    .where('id', '=', orderId)
    .executeTakeFirst();
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
    orderId: order.id,
    status: order.status,
    cancelReason: order.cancel_reason,
    correlationId: order.correlation_id,
    createdAt: order.created_at,
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
