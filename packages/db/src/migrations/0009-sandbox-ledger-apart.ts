import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The sandbox payment provider's ledger leaves the main schema: a production database
    -- (charged by a real provider) has no sandbox table. The sandbox creates its own where it
    -- runs (migrateSandboxLedger, packages/payments). A local database migrated before this
    -- loses the sandbox's record of its past payments: the sandbox starts a new ledger.
    drop table if exists sandbox_provider_operations;
  `.execute(db);
}
