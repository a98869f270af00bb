import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The W3C trace context of the work that wrote each outbox row: its messages carry it in
    -- googclient_traceparent, after commit and from the relay alike, so that an order's hops
    -- form one trace. Null in rows written before this column or outside any traced work.
    alter table outbox add column traceparent text
      constraint outbox_traceparent_w3c
      check (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');
    grant insert (traceparent) on outbox
      to place_order, process_order, payment_handler, housekeeping;
  `.execute(db);
}
