import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The sandbox provider voids a payment under its charge's idempotency key, as a real
    -- provider cancels the payment it holds under that key: a void row and a charge row
    -- compete for the one key, so whichever lands first is the payment's fate. A void names
    -- no customer (the order that gives up does not know it, and nothing is charged).
    alter table sandbox_provider_operations
      drop constraint sandbox_provider_operations_kind_check,
      add constraint sandbox_provider_operations_kind_check
        check (kind in ('charge', 'refund', 'void')),
      alter column customer_id drop not null,
      add constraint sandbox_provider_operations_customer_check
        check ((kind = 'void') = (customer_id is null));
  `.execute(db);
}
