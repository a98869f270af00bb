import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- What each transition sent: the ids of the events it emitted (rows of the outbox).
    alter table saga_transitions
      add column emitted_event_ids uuid[] not null default '{}';
  `.execute(db);
}
