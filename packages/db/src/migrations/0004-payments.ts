import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The payment service's own record of each payment (payment id derived from the order).
    -- It never references order or stock tables: payments could live in another database.
    -- A row holds a settled outcome only; the handler serializes work on a payment id with a
    -- transaction-scoped advisory lock, so no row is needed before the provider answers.
    create table payments (
      payment_id text primary key,
      order_id uuid not null,
      -- Null when the payment was voided before any request for it arrived.
      customer_id text,
      amount_minor bigint not null check (amount_minor >= 0),
      currency char(3) not null,
      status text not null check (status in ('charged', 'declined', 'voided', 'refunded')),
      provider_ref text,
      failure_reason text,
      refund_id text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index payments_order on payments (order_id);

    -- The sandbox payment provider's ledger: what a real provider keeps on its side. Its
    -- idempotency key makes a retried charge or refund return the first outcome.
    create table sandbox_provider_operations (
      idempotency_key text primary key,
      kind text not null check (kind in ('charge', 'refund')),
      payment_id text not null,
      order_id uuid not null,
      customer_id text not null,
      amount_minor bigint not null check (amount_minor >= 0),
      currency char(3) not null,
      outcome text not null check (outcome in ('succeeded', 'declined')),
      decline_code text,
      provider_ref text not null,
      -- A refund names the charge it pays back, by that charge's idempotency key.
      charge_key text,
      created_at timestamptz not null default now(),
      check ((kind = 'refund') = (charge_key is not null))
    );
    create index sandbox_provider_operations_order on sandbox_provider_operations (order_id);
    -- A charge is paid back once, in full: a second refund under another key cannot land.
    create unique index sandbox_provider_operations_one_refund
      on sandbox_provider_operations (charge_key) where kind = 'refund';
  `.execute(db);
}
