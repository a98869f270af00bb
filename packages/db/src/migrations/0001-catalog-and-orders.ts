import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table products (
      sku text primary key,
      name text not null,
      price_minor bigint not null check (price_minor >= 0),
      currency char(3) not null,
      stock integer not null check (stock >= 0),
      created_at timestamptz not null default now()
    );
    create table orders (
      id uuid primary key,
      customer_id text not null,
      currency char(3) not null,
      total_minor bigint not null check (total_minor >= 0),
      status text not null check (status in
        ('PLACED', 'AWAITING_PAYMENT', 'CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION')),
      cancel_reason text,
      correlation_id uuid not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create table order_items (
      order_id uuid not null references orders (id),
      sku text not null references products (sku),
      quantity integer not null check (quantity > 0),
      unit_price_minor bigint not null check (unit_price_minor >= 0),
      primary key (order_id, sku)
    );
  `.execute(db);
}
