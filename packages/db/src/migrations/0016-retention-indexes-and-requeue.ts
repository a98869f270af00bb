import { type Kysely, sql } from 'kysely';

/**
 * Two fixes to retention and the outbox gauge (docs/architecture.md, "Retention";
 * docs/operating.md, "The outbox").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- When the row was last handed back to the relay after it stopped owing it: released from
    -- set-aside by an operator (pnpm outbox retry), or marked unsent again by a stalled
    -- order's re-drive. The relay has owed it since then, else since created_at, which stays when the
    -- row was written. The outbox age gauge reads this.
    alter table outbox add column requeued_at timestamptz;
    grant update (requeued_at) on outbox to housekeeping;

    -- The history purge walks the moves into a status at rest, oldest first: the last move
    -- of every saga at rest is one, and it goes with the rest of its saga's history. The
    -- moves of sagas not at rest (parked, waiting) are not in it, so no batch reads past them
    -- again and again; nor past the sagas at rest whose history is already gone.
    create index saga_transitions_to_rest on saga_transitions (at)
      where to_status in ('CONFIRMED', 'CANCELLED');
    drop index saga_transitions_age;
  `.execute(db);
}
