import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
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
}
