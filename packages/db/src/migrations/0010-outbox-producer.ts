import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The function that wrote each outbox row (its writer names itself), which the relay
    -- holds the row to: it publishes only a valid envelope of a type that producer may emit
    -- (packages/events, producers). A row without one is set aside, never published.
    alter table outbox add column producer text;

    -- Rows written before this column: their envelope's source, the one record there is of
    -- who wrote them, held to the same rule (a sent row too: a stalled order's OrderPlaced
    -- is published again from its row).
    update outbox set producer = event->>'source';
  `.execute(db);
}
