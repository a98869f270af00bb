import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The W3C trace context of the work that last moved each saga (process-order's delivery,
    -- a deadline housekeeping fired, an operator's retry): whatever moves it next without a
    -- message of its own (a deadline, a retry) runs in that trace, so that an order's hops
    -- form one trace. Null in sagas last moved before this column or outside any traced work.
    alter table sagas add column traceparent text
      constraint sagas_traceparent_w3c
      check (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');
    grant update (traceparent) on sagas to process_order, housekeeping;
  `.execute(db);
}
