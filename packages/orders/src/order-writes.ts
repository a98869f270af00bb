import type { Database } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { outboxRows } from '@orders/idempotency';
import { type Kysely, type RawBuilder, sql } from 'kysely';

/**
 * Writes the order, its items and the outbox row of its OrderPlaced in one statement: one
 * round trip, atomic on its own, and usable inside a larger transaction. With `onlyIf` (a
 * data-modifying statement, such as the completion of an Idempotency-Key, run as part of this
 * one), the rows are written only when it returns a row. Returns whether they were written.
 */
export async function insertPlacedOrder(
  db: Kysely<Database>,
  placed: DomainEvent<'OrderPlaced'>,
  { onlyIf }: { onlyIf?: RawBuilder<unknown> } = {},
): Promise<boolean> {
  const { orderId, customerId, currency, totalMinor, items } = placed.data;
  // Only a v1 producer's OrderPlaced lacks them; the intake always prices its lines.
  if (!items) throw new Error(`order ${orderId} has no items: the intake places none such`);
  const at = placed.occurredAt;
  const [outbox] = outboxRows([placed]);
  const itemRows = sql.join(
    items.map(
      (item) =>
        sql`(${orderId}::uuid, ${item.sku}::text, ${item.quantity}::integer, ${item.unitPriceMinor}::bigint)`,
    ),
  );
  // Each insert selects from `guard`: no row there, nothing written, in the same statement.
  const result = await sql<{ written: number }>`
    with guard as (${onlyIf ?? sql`select 1`}),
    new_order as (
      insert into orders
        (id, customer_id, currency, total_minor, status, correlation_id, created_at, updated_at)
      select ${orderId}::uuid, ${customerId}::text, ${currency}::char(3), ${totalMinor}::bigint,
        'PLACED', ${placed.correlationId}::uuid, ${at}::timestamptz, ${at}::timestamptz
      from guard
    ),
    new_items as (
      insert into order_items (order_id, sku, quantity, unit_price_minor)
      select item.* from guard
      cross join (values ${itemRows}) as item (order_id, sku, quantity, unit_price_minor)
    ),
    new_outbox as (
      insert into outbox (id, event) select ${outbox!.id}::uuid, ${outbox!.event}::jsonb from guard
    )
    select count(*)::integer as written from guard`.execute(db);
  return result.rows[0]!.written > 0;
}
