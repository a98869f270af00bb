import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A row's age, which the relay waits for before it publishes what the writer may still be
    -- publishing, counts from the row's insert, not from its transaction's start (now()): a
    -- writer that held its transaction a while (across a provider call) and inserts its
    -- outbox rows in its last statement commits rows that look as young as they are.
    alter table outbox alter column created_at set default clock_timestamp();
  `.execute(db);
}
