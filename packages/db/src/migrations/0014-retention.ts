import { type Kysely, sql } from 'kysely';

/**
 * Retention: housekeeping deletes, in bounded batches, what grows with every order and is
 * needed only for a while (docs/architecture.md, "Retention"): inbox claims, sent outbox
 * rows, the history of sagas long at rest, expired Idempotency-Keys. Each delete finds its
 * oldest rows through an index on their age, so a batch costs the same however large the
 * table was; and housekeeping's role gets exactly the deletes it runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The oldest claims, sent rows and transitions first (keys have idempotency_keys_expiry).
    create index processed_events_age on processed_events (processed_at);
    create index outbox_sent on outbox (sent_at) where sent_at is not null;
    create index saga_transitions_age on saga_transitions (at);

    -- housekeeping: deletes claims past their window (it never claims one: no insert).
    grant select (consumer, event_id, processed_at), delete on processed_events to housekeeping;
    -- The history of a saga long at rest (it reads sagas and saga_transitions already).
    grant delete on saga_transitions to housekeeping;
    -- A batch of expired keys is chosen by its primary key.
    grant select (scope, key) on idempotency_keys to housekeeping;
    -- Sent outbox rows, and only those: row security refuses to delete a row still unsent
    -- (the relay owes it) or set aside (an operator's), whatever the statement says.
    grant delete on outbox to housekeeping;
    create policy outbox_retention_deletes on outbox for delete to housekeeping
      using (sent_at is not null and set_aside_at is null);
  `.execute(db);
}
