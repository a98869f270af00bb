import type { Database, OrderStatus } from '@orders/db';
import { type Kysely, sql } from 'kysely';

export interface Product {
  sku: string;
  name: string;
  priceMinor: number;
  currency: string;
  stock: number;
}

export interface OrderView {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  cancelReason: string | null;
  currency: string;
  totalMinor: number;
  items: { sku: string; quantity: number; unitPriceMinor: number }[];
  correlationId: string;
  createdAt: string;
  updatedAt: string;
}

export async function listProducts(db: Kysely<Database>): Promise<Product[]> {
  return db
    .selectFrom('products')
    .select(['sku', 'name', 'price_minor as priceMinor', 'currency', 'stock'])
    .orderBy('sku')
    .execute();
}

/**
 * One order of `customerId` with its items, in one query; undefined when there is none, or
 * it is another customer's (the caller cannot tell these apart).
 */
export async function findOrder(
  db: Kysely<Database>,
  orderId: string,
  customerId: string,
): Promise<OrderView | undefined> {
  const row = await db
    .selectFrom('orders as o')
    .select([
      'o.id',
      'o.customer_id',
      'o.status',
      'o.cancel_reason',
      'o.currency',
      'o.total_minor',
      'o.correlation_id',
      'o.created_at',
      'o.updated_at',
      sql<OrderView['items']>`(
        select json_agg(json_build_object(
          'sku', i.sku, 'quantity', i.quantity, 'unitPriceMinor', i.unit_price_minor
        ) order by i.sku)
        from order_items i where i.order_id = o.id
      )`.as('items'),
    ])
    .where('o.id', '=', orderId)
    .where('o.customer_id', '=', customerId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    orderId: row.id,
    customerId: row.customer_id,
    status: row.status,
    cancelReason: row.cancel_reason,
    currency: row.currency,
    totalMinor: row.total_minor,
    items: row.items ?? [],
    correlationId: row.correlation_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
