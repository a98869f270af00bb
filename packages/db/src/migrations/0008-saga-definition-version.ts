import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The version of the saga definition that saved each saga: a changed definition never
    -- decides on a saga it did not save without an upgrade (sagas saved so far: version 1).
    alter table sagas add column definition_version integer not null default 1;
  `.execute(db);
}
