import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- What an order holds of each sku: reserved, then sold (confirmed) or released.
    -- Per sku, products.stock + reserved + sold is the stock ever received.
    create table stock_reservations (
      order_id uuid not null references orders (id),
      sku text not null references products (sku),
      quantity integer not null check (quantity > 0),
      state text not null check (state in ('reserved', 'sold', 'released')),
      updated_at timestamptz not null default now(),
      primary key (order_id, sku)
    );

    -- One row per saga instance; version guards against concurrent updates.
    create table sagas (
      id uuid primary key,
      type text not null,
      status text not null,
      version integer not null check (version > 0),
      state jsonb not null,
      deadline_at timestamptz,
      correlation_id uuid not null,
      failed_attempts integer not null default 0,
      last_error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index sagas_due on sagas (deadline_at) where deadline_at is not null;
    create index sagas_status on sagas (type, status);

    -- Every transition, in order: the history an operator reads.
    create table saga_transitions (
      saga_id uuid not null references sagas (id),
      version integer not null,
      from_status text,
      to_status text not null,
      cause_type text not null,
      cause_event_id uuid,
      note text,
      at timestamptz not null default now(),
      primary key (saga_id, version)
    );
  `.execute(db);
}
