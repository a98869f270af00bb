import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A row's age, which the relay waits for before it publishes what the writer may still be
    -- publishing, counts from the row's insert, not from its transaction's start (now()): a
    -- writer that held its transaction a while (across a provider call) and inserts its
    -- outbox rows in its last statement commits rows that look as young as they are.
    alter table outbox alter column created_at set default clock_timestamp();

    -- Progress per copy (event, topic): the topics of its routes that took an unsent event,
    -- so a route that refuses holds back its own copies only; sent_at once every route has.
    -- A refused row waits (attempts, last_error, next_attempt_at) while the rows behind go
    -- on; a row that can never be published (unknown type, invalid envelope) is set aside.
    alter table outbox
      add column published_topics text[] not null default '{}',
      add column attempts integer not null default 0,
      add column last_error text,
      add column next_attempt_at timestamptz,
      add column set_aside_at timestamptz,
      add column set_aside_reason text,
      add check ((set_aside_at is null) = (set_aside_reason is null));
    drop index outbox_unsent;
    create index outbox_unsent on outbox (created_at) where sent_at is null and set_aside_at is null;

    -- Orders placed long ago with no saga (their OrderPlaced never reached it) are driven
    -- again by housekeeping, a bounded number of times: the re-drives of each, so far.
    create table order_redrives (
      order_id uuid primary key references orders (id),
      attempts integer not null check (attempts > 0),
      last_redriven_at timestamptz not null
    );
    -- Finding them: the orders still PLACED (few), and an order's OrderPlaced in the outbox.
    create index orders_placed on orders (created_at) where status = 'PLACED';
    create index outbox_order_placed on outbox ((event->>'subject'))
      where event->>'type' = 'OrderPlaced';
  `.execute(db);
}
