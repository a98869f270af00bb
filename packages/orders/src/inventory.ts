import type { Database } from '@orders/db';
import { type Kysely, sql } from 'kysely';

type Items = readonly { sku: string; quantity: number }[];

/**
 * Takes `items` out of available stock for the order, all or nothing. Rows are locked in sku
 * order so that concurrent orders never deadlock. Stock is conserved: per sku, available +
 * reserved + sold never changes.
 *
 * The lock is FOR NO KEY UPDATE, not FOR UPDATE: it serializes stock changes just as well,
 * but does not conflict with the FOR KEY SHARE locks that inserting order_items takes on
 * products (its foreign key). With FOR UPDATE, an intake holding the key-share lock of one
 * sku while waiting for another's deadlocked against a reservation holding them the other
 * way round (measured by `pnpm bench`'s pipeline: both sides failed and were retried).
 */
export async function reserveStock(
  trx: Kysely<Database>,
  orderId: string,
  items: Items,
): Promise<
  | { order: 'missing' | 'different' }
  | { order: 'found'; reserved: true }
  | { order: 'found'; reserved: false; short: string[] }
> {
  const skus = items.map((item) => item.sku);
  const quantities = items.map((item) => item.quantity);
  // One statement. `matches` checks that the order exists with exactly these lines: stock is
  // only ever taken for an order that intake committed. `locked` locks the rows in sku order
  // and reads their latest stock; the update and the insert test `refused` first (an
  // uncorrelated subquery, evaluated before they touch a row), so every row they change is
  // already locked, in that order.
  const { rows } = await sql<{ found: boolean; matches: boolean; short: string[] }>`
    with wanted (sku, quantity) as (select * from unnest(${skus}::text[], ${quantities}::int[])),
    found as (select exists (select from orders where id = ${orderId}::uuid) as found),
    matches as (
      select not exists (
        (select sku, quantity from wanted
          except select sku, quantity from order_items where order_id = ${orderId}::uuid)
        union all
        (select sku, quantity from order_items where order_id = ${orderId}::uuid
          except select sku, quantity from wanted)
      ) as matches
    ),
    locked as (
      select sku, stock from products where sku = any(${skus}::text[])
      order by sku for no key update
    ),
    short as (
      select w.sku from wanted w left join locked l on l.sku = w.sku
      where l.stock is null or l.stock < w.quantity
    ),
    refused as (
      select from short
      union all select from found where not found
      union all select from matches where not matches
    ),
    taken as (
      update products p set stock = p.stock - w.quantity from wanted w
      where p.sku = w.sku and not exists (select from refused)
    ),
    reserved as (
      insert into stock_reservations (order_id, sku, quantity, state)
      select ${orderId}::uuid, sku, quantity, 'reserved' from wanted
      where not exists (select from refused)
    )
    select (select found from found) as found, (select matches from matches) as matches,
      array(select sku from short order by sku) as short
  `.execute(trx);
  const { found, matches, short } = rows[0]!;
  if (!found) return { order: 'missing' };
  if (!matches) return { order: 'different' };
  return short.length === 0
    ? { order: 'found', reserved: true }
    : { order: 'found', reserved: false, short };
}

/** Puts an order's reserved stock back. Idempotent: only what is still reserved moves. */
export async function releaseStock(trx: Kysely<Database>, orderId: string): Promise<void> {
  await sql`
    select 1 from products
    where sku in (select sku from stock_reservations where order_id = ${orderId} and state = 'reserved')
    order by sku for no key update
  `.execute(trx);
  await sql`
    with released as (
      update stock_reservations set state = 'released', updated_at = now()
      where order_id = ${orderId} and state = 'reserved'
      returning sku, quantity
    )
    update products p set stock = p.stock + r.quantity from released r where p.sku = r.sku
  `.execute(trx);
}

/** Turns an order's reservation into a sale (it leaves the warehouse). Idempotent. */
export async function sellStock(trx: Kysely<Database>, orderId: string): Promise<void> {
  await trx
    .updateTable('stock_reservations')
    .set({ state: 'sold', updated_at: sql<Date>`now()` })
    .where('order_id', '=', orderId)
    .where('state', '=', 'reserved')
    .execute();
}
