import { type Kysely, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import type { Database } from './schema';

/**
 * Forward-only migrations, applied in name order. kysely records each in
 * `kysely_migration` under a lock, so running them again (or concurrently) is a no-op.
 */
const migrations: Record<string, Migration> = {
  '0001-catalog-and-orders': {
    async up(db) {
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
    },
  },
  '0002-exactly-once': {
    async up(db) {
      await sql`
        create table processed_events (
          consumer text not null,
          event_id uuid not null,
          processed_at timestamptz not null default now(),
          primary key (consumer, event_id)
        );
        create table outbox (
          id uuid primary key,
          event jsonb not null,
          created_at timestamptz not null default now(),
          sent_at timestamptz
        );
        create index outbox_unsent on outbox (created_at) where sent_at is null;
        create table idempotency_keys (
          scope text not null,
          key text not null,
          fingerprint text not null,
          status text not null check (status in ('in_flight', 'completed')),
          lock_token uuid,
          locked_until timestamptz,
          response jsonb,
          created_at timestamptz not null default now(),
          expires_at timestamptz not null,
          primary key (scope, key),
          check ((status = 'completed') = (response is not null))
        );
        create index idempotency_keys_expiry on idempotency_keys (expires_at);
      `.execute(db);
    },
  },
};

/** Applies every pending migration; returns the names applied by this call. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) throw error;
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
