import { type Kysely, sql } from 'kysely';

/**
 * One NOLOGIN role per function that uses the database, holding exactly the privileges of the
 * statements its code runs; each function's IAM database user is made a member of its role
 * (`grantFunctionRoles`, run by `pnpm migrate --project`). No role owns a table or may
 * create one: the migrator owns everything. There are no sequences (every key is a uuid or
 * natural). docs/security.md ("Database roles") explains each grant.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Roles are shared by every database of the server: create each one unless it exists,
    -- and take a concurrent creation (another database migrating) for one.
    do $$
    declare
      role_name text;
    begin
      foreach role_name in array array['place_order', 'process_order', 'payment_handler', 'housekeeping']
      loop
        if not exists (select from pg_roles where rolname = role_name) then
          begin
            execute format('create role %I nologin', role_name);
          exception when duplicate_object or unique_violation then
            null;
          end;
        end if;
      end loop;
    end $$;

    grant usage on schema public to place_order, process_order, payment_handler, housekeeping;

    -- place-order: intake (the Idempotency-Key protocol, prices, the order with its items and
    -- the outbox row of its OrderPlaced), GET /orders/{id}, GET /products, and marking its
    -- outbox row sent after publishing.
    grant select, insert, update, delete on idempotency_keys to place_order;
    grant select on products to place_order;
    grant select, insert on orders, order_items to place_order;

    -- process-order: the order saga's unit of work (inbox claim, saga row and history, stock
    -- reservation and release, the order's status).
    -- An inbox claim (insert ... on conflict (consumer, event_id) do nothing) reads its key.
    grant select (consumer, event_id), insert on processed_events to process_order;
    grant select, insert on sagas to process_order;
    grant select, insert on saga_transitions to process_order;
    grant select on orders, order_items, stock_reservations to process_order;
    grant insert on stock_reservations to process_order;

    -- payment-handler: its inbox claim and its own payments table.
    grant select (consumer, event_id), insert on processed_events to payment_handler;
    grant select, insert on payments to payment_handler;
    grant update (status, customer_id, amount_minor, currency, provider_ref, failure_reason,
      refund_id, updated_at) on payments to payment_handler;

    -- housekeeping: wakes sagas at their deadline (the order store without an inbox claim:
    -- it never creates a saga), purges expired Idempotency-Keys, re-drives stalled orders,
    -- and relays the outbox.
    grant select on sagas, saga_transitions, orders, stock_reservations, order_redrives
      to housekeeping;
    grant insert on saga_transitions, order_redrives to housekeeping;
    grant update (attempts, last_redriven_at) on order_redrives to housekeeping;
    grant select (expires_at) on idempotency_keys to housekeeping;
    grant delete on idempotency_keys to housekeeping;

    -- The saga, wherever it runs, moves sagas, orders and stock only in these columns: never
    -- a price, a total or a customer.
    grant update (status, version, state, definition_version, deadline_at, updated_at,
      failed_attempts, last_error) on sagas to process_order, housekeeping;
    grant update (status, cancel_reason, updated_at) on orders to process_order, housekeeping;
    grant update (state, updated_at) on stock_reservations to process_order, housekeeping;
    grant select (sku, stock), update (stock) on products to process_order, housekeeping;

    -- The outbox: every writer inserts the rows of its own events, under its own name as their
    -- producer (0010; the relay publishes a row only of a type its producer may emit) and as
    -- their envelope's source, and
    -- records what it published after commit, seeing only its own rows and of them only the
    -- bookkeeping columns, never an event. Only the relay (housekeeping) reads every row and
    -- keeps its delivery state; the sagas it wakes write process-order's events.
    -- Row security binds these roles only: the owner (the migrator, operators' tools) sees all.
    alter table outbox enable row level security;
    create policy outbox_place_order on outbox to place_order
      using (producer = 'place-order')
      with check (producer = 'place-order' and event->>'source' = 'place-order');
    create policy outbox_process_order on outbox to process_order
      using (producer = 'process-order')
      with check (producer = 'process-order' and event->>'source' = 'process-order');
    create policy outbox_payment_handler on outbox to payment_handler
      using (producer = 'payment-handler')
      with check (producer = 'payment-handler' and event->>'source' = 'payment-handler');
    create policy outbox_relay_reads on outbox for select to housekeeping using (true);
    create policy outbox_relay_updates on outbox for update to housekeeping
      using (true) with check (true);
    create policy outbox_relay_inserts on outbox for insert to housekeeping
      with check (producer = 'process-order' and event->>'source' = 'process-order');
    grant insert (id, event, producer) on outbox
      to place_order, process_order, payment_handler, housekeeping;
    grant select (id, sent_at, published_topics), update (sent_at, published_topics) on outbox
      to place_order, process_order, payment_handler;
    grant select on outbox to housekeeping;
    grant update (published_topics, sent_at, attempts, last_error, next_attempt_at,
      set_aside_at, set_aside_reason) on outbox to housekeeping;
  `.execute(db);
}
