import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The intake counts a customer's open orders (placed, not yet paid or cancelled) on every
    -- order it takes, to cap them: an index of the open ones only stays as small as they are.
    create index orders_open_by_customer on orders (customer_id)
      where status in ('PLACED', 'AWAITING_PAYMENT');
  `.execute(db);
}
