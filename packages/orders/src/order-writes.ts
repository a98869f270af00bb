import type { Database } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { outboxRows } from '@orders/idempotency';
import { type Kysely, sql } from 'kysely';

/**
 * Writes the order, its items and the outbox row of its OrderPlaced in one statement:
 * one round trip, atomic on its own, and usable inside a larger transaction.
 */
export async function insertPlacedOrder(
  db: Kysely<Database>,
  placed: DomainEvent<'OrderPlaced'>,
): Promise<void> {
  const { orderId, customerId, currency, totalMinor, items } = placed.data;
  await db
    .with('new_order', (q) =>
      q.insertInto('orders').values({
        id: orderId,
        customer_id: customerId,
        currency,
        total_minor: totalMinor,
        status: 'PLACED',
        correlation_id: placed.correlationId,
        created_at: new Date(placed.occurredAt),
        updated_at: new Date(placed.occurredAt),
      }),
    )
    .with('new_items', (q) =>
      q.insertInto('order_items').values(
        items.map((item) => ({
          order_id: orderId,
          sku: item.sku,
          quantity: item.quantity,
          unit_price_minor: item.unitPriceMinor,
        })),
      ),
    )
    .with('new_outbox', (q) => q.insertInto('outbox').values(outboxRows([placed])))
    .selectNoFrom(sql<number>`1`.as('written'))
    .execute();
}
