import type { Database, OrderStatus as StoredOrderStatus } from '@orders/db';
import { activeTraceparent, outboxRows } from '@orders/messaging';
import { messageOf, parseTraceContext } from '@orders/platform';
import type {
  DueSaga,
  SagaChange,
  SagaStore,
  SagaUnitOfWork,
  SavedSaga,
} from '@orders/saga-engine';
import { SagaConflictError, SagaInputRejectedError } from '@orders/saga-engine';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import {
  type OrderSagaInput,
  type OrderSagaIntent,
  type OrderSagaState,
  type OrderSagaStatus,
  orderStatusOf,
  type ReserveStock,
  orderSagaType as sagaType,
} from './order-saga';

type OrderUnitOfWork = SagaUnitOfWork<
  OrderSagaState,
  OrderSagaIntent,
  ReserveStock,
  OrderSagaInput
>;
// The saga's mapping writes only statuses the orders table holds.
orderStatusOf satisfies Record<OrderSagaStatus, StoredOrderStatus>;

export type OrderStore = SagaStore<OrderSagaState, OrderSagaIntent, ReserveStock, OrderSagaInput>;

/**
 * Every statement that handling an order-saga message runs, in one place: the unit of work
 * of the order saga on PostgreSQL. Per input, in one transaction:
 * 1. claim the event in the inbox (`processed_events`), read the saga and the database's
 *    clock: one statement;
 * 2. answer the saga's question (reserve the stock: one statement), or put stock back (a
 *    compensation: two statements, under a savepoint on the last allowed attempt);
 * 3. commit: the order's status, sold stock, the outbox rows of the emitted events, the saga
 *    row at its next version and its history, in one statement.
 * Time is the database's (`now()` of the transaction), never this process's: deadlines are
 * set by one function and compared by another.
 */
export function createPostgresOrderStore(
  db: Kysely<Database>,
  { consumer }: { consumer: string },
): OrderStore {
  return {
    async transact(id, eventId, work) {
      return db.transaction().execute(async (trx) => {
        const loaded = await claimAndLoad(trx, id, eventId === null ? null : { consumer, eventId });
        if (!loaded.claimed) return 'duplicate';
        return work(unitOfWork(trx, id, loaded));
      });
    },

    async recordFailure(id, error) {
      await db
        .updateTable('sagas')
        .set((eb) => ({
          failed_attempts: eb('failed_attempts', '+', 1),
          last_error: messageOf(error).slice(0, 1000),
        }))
        .where('id', '=', id)
        .execute();
    },

    async now() {
      const { rows } = await sql<{ now: Date }>`select now() as now`.execute(db);
      return rows[0]!.now;
    },

    async due(cutoff, after, limit) {
      // Keyset on the deadline to the millisecond (what a JS Date holds) and the id, so that
      // a saga that failed is not met again in this run.
      const { rows } = await sql<{
        id: string;
        version: number;
        correlation_id: string;
        deadline_ms: Date;
        traceparent: string | null;
      }>`
        select id, version, correlation_id, date_trunc('milliseconds', deadline_at) as deadline_ms,
          traceparent
        from sagas
        where type = ${sagaType} and deadline_at <= ${cutoff}::timestamptz
          ${after ? sql`and (date_trunc('milliseconds', deadline_at), id) > (${after.deadlineAt}::timestamptz, ${after.id}::uuid)` : sql``}
        order by date_trunc('milliseconds', deadline_at), id
        limit ${limit}`.execute(db);
      return rows.map(
        (row): DueSaga => ({
          id: row.id,
          version: row.version,
          correlationId: row.correlation_id,
          deadlineAt: row.deadline_ms,
          trace: parseTraceContext({ traceparent: row.traceparent }),
        }),
      );
    },
  };
}

/**
 * Claims the event (when given) and reads the saga with the database's clock, in one
 * statement. A concurrent duplicate waits on the claim's primary key until the first
 * transaction ends, then finds it taken (or takes it, if the first rolled back: the saga row
 * it read is then as it was before the wait, and the commit's version check refuses it if
 * the saga moved meanwhile).
 */
async function claimAndLoad(
  trx: Kysely<Database>,
  id: string,
  claim: { consumer: string; eventId: string } | null,
): Promise<{ claimed: boolean; now: Date; saved: SavedSaga | undefined }> {
  const claimed = claim ? sql`(select count(*) from claim)::int > 0` : sql`true`;
  const { rows } = await sql<{
    now: Date;
    claimed: boolean;
    id: string | null;
    status: string;
    version: number;
    definition_version: number;
    state: unknown;
    deadline_at: Date | null;
    correlation_id: string;
    failed_attempts: number;
  }>`
    ${
      claim
        ? sql`with claim as (
            insert into processed_events (consumer, event_id)
            values (${claim.consumer}, ${claim.eventId}::uuid)
            on conflict (consumer, event_id) do nothing
            returning 1
          )`
        : sql``
    }
    select now() as now, ${claimed} as claimed, s.id, s.status, s.version,
      s.definition_version, s.state, s.deadline_at, s.correlation_id, s.failed_attempts
    from (select) as clock
    left join sagas s on s.id = ${id}::uuid and s.type = ${sagaType}`.execute(trx);
  const row = rows[0]!;
  return {
    claimed: row.claimed,
    now: row.now,
    saved:
      row.id === null
        ? undefined
        : {
            id: row.id,
            status: row.status,
            version: row.version,
            definitionVersion: row.definition_version,
            state: row.state,
            deadlineAt: row.deadline_at,
            correlationId: row.correlation_id,
            failedAttempts: row.failed_attempts,
          },
  };
}

function unitOfWork(
  trx: Kysely<Database>,
  id: string,
  { now, saved }: { now: Date; saved: SavedSaga | undefined },
): OrderUnitOfWork {
  return {
    now,
    saved,
    answer: (question) => reserveStock(trx, question),
    async compensate(intent, { isolated }) {
      if (!isolated) return releaseStock(trx, intent.orderId);
      await sql`savepoint order_compensation`.execute(trx);
      try {
        await releaseStock(trx, intent.orderId);
        await sql`release savepoint order_compensation`.execute(trx);
      } catch (error) {
        await sql`rollback to savepoint order_compensation`.execute(trx);
        throw error;
      }
    },
    commit: (change) => commit(trx, change),
    async forgetDeadline() {
      // A deadline that no longer matters is forgotten, or the saga would be woken every tick.
      if (!saved) return;
      await sql`
        update sagas set deadline_at = null
        where id = ${id}::uuid and version = ${saved.version}`.execute(trx);
    },
  };
}

/**
 * Takes the order's items out of available stock, all or nothing, and answers whether it
 * could. Rows are locked in sku order so that concurrent orders never deadlock. Stock is
 * conserved: per sku, available + reserved + sold never changes.
 *
 * The lock is FOR NO KEY UPDATE, not FOR UPDATE: it serializes stock changes just as well,
 * but does not conflict with the FOR KEY SHARE locks that inserting order_items takes on
 * products (its foreign key). With FOR UPDATE, an intake holding the key-share lock of one
 * sku while waiting for another's deadlocked against a reservation holding them the other
 * way round (measured by `pnpm bench`'s pipeline: both sides failed and were retried).
 * @throws SagaInputRejectedError when the order does not exist or has other items: no saga
 *   is left behind (refusing the input rolls the transaction back).
 */
async function reserveStock(
  trx: Kysely<Database>,
  { orderId, items }: ReserveStock,
): Promise<OrderSagaInput> {
  const skus = items.map((item) => item.sku);
  const quantities = items.map((item) => item.quantity);
  // One statement. `matches` checks that the order exists with exactly these lines: stock is
  // only ever taken for an order that intake committed. `locked` locks the rows in sku order
  // and reads their latest stock; the update and the insert test `refused` first (an
  // uncorrelated subquery, evaluated before they touch a row), so every row they change is
  // already locked, in that order.
  const { rows } = await sql<{ found: boolean; matches: boolean; short: string[] }>`
    with wanted (sku, quantity) as (select * from unnest(${skus}::text[], ${quantities}::int[])),
    found as (select exists (select from orders where id = ${orderId}::uuid) as found),
    matches as (
      select not exists (
        (select sku, quantity from wanted
          except select sku, quantity from order_items where order_id = ${orderId}::uuid)
        union all
        (select sku, quantity from order_items where order_id = ${orderId}::uuid
          except select sku, quantity from wanted)
      ) as matches
    ),
    locked as (
      select sku, stock from products where sku = any(${skus}::text[])
      order by sku for no key update
    ),
    short as (
      select w.sku from wanted w left join locked l on l.sku = w.sku
      where l.stock is null or l.stock < w.quantity
    ),
    refused as (
      select from short
      union all select from found where not found
      union all select from matches where not matches
    ),
    taken as (
      update products p set stock = p.stock - w.quantity from wanted w
      where p.sku = w.sku and not exists (select from refused)
    ),
    reserved as (
      insert into stock_reservations (order_id, sku, quantity, state)
      select ${orderId}::uuid, sku, quantity, 'reserved' from wanted
      where not exists (select from refused)
    )
    select (select found from found) as found, (select matches from matches) as matches,
      array(select sku from short order by sku) as short
  `.execute(trx);
  const { found, matches, short } = rows[0]!;
  if (!found) {
    throw new SagaInputRejectedError(
      `OrderPlaced of order ${orderId}, which does not exist: no row in orders (placed by another service, or never committed by intake)`,
    );
  }
  if (!matches) {
    throw new SagaInputRejectedError(
      `OrderPlaced of order ${orderId} does not match the order: its items differ from the order's rows`,
    );
  }
  return short.length === 0 ? { type: 'StockReserved' } : { type: 'StockUnavailable', skus: short };
}

/** Puts an order's reserved stock back. Idempotent: only what is still reserved moves. */
async function releaseStock(trx: Kysely<Database>, orderId: string): Promise<void> {
  await sql`
    select 1 from products
    where sku in (select sku from stock_reservations where order_id = ${orderId} and state = 'reserved')
    order by sku for no key update
  `.execute(trx);
  await sql`
    with released as (
      update stock_reservations set state = 'released', updated_at = now()
      where order_id = ${orderId} and state = 'reserved'
      returning sku, quantity
    )
    update products p set stock = p.stock + r.quantity from released r where p.sku = r.sku
  `.execute(trx);
}

/**
 * Writes the change in one statement: the intents (the order's status, its stock sold), the
 * outbox rows of its events, the saga row (insert, or update at the version loaded) and its
 * transitions. Data-modifying WITH queries run to completion whether read or not. When the
 * saga row is not written (a concurrent change), no transition is either, and the
 * transaction fails as retryable, rolling the rest back with it. A saga that moved starts
 * its failure count again, unless it was parked (`last_error` then says why).
 */
async function commit(
  trx: Kysely<Database>,
  change: SagaChange<OrderSagaState, OrderSagaIntent>,
): Promise<void> {
  const { id, state, transitions, events, parked } = change;
  const writes: RawBuilder<unknown>[] = [];
  // Two updates of one row cannot share a statement: the last status set is the order's.
  const status = change.intents.findLast((intent) => intent.kind === 'SetOrderStatus');
  if (status) {
    writes.push(sql`
      update orders set status = ${status.status}, cancel_reason = ${status.cancelReason ?? null},
        updated_at = now()
      where id = ${status.orderId}::uuid`);
  }
  for (const intent of change.intents) {
    if (intent.kind === 'SellStock') {
      // It leaves the warehouse. Idempotent: only what is still reserved is sold.
      writes.push(sql`
        update stock_reservations set state = 'sold', updated_at = now()
        where order_id = ${intent.orderId}::uuid and state = 'reserved'`);
    }
  }
  if (events.length > 0) {
    // The saga's events are process-order's, wherever it runs (housekeeping wakes it too).
    const rows = outboxRows('process-order', events).map(
      (row) =>
        sql`(${row.id}::uuid, ${row.event}::jsonb, ${row.producer}::text, ${row.traceparent}::text)`,
    );
    writes.push(
      sql`insert into outbox (id, event, producer, traceparent) values ${sql.join(rows)}`,
    );
  }

  const version = transitions.at(-1)!.version;
  const json = JSON.stringify(state);
  // What moves the saga next without a message of its own (a deadline, a retry) continues
  // this trace; work outside any trace leaves the last one.
  const traceparent = activeTraceparent() ?? null;
  const saved =
    change.expectedVersion !== undefined
      ? sql`
          update sagas set status = ${state.status}, version = ${version}, state = ${json}::jsonb,
            definition_version = ${change.definitionVersion},
            deadline_at = ${change.deadlineAt}::timestamptz, updated_at = now(),
            failed_attempts = ${parked?.failedAttempts ?? 0}, last_error = ${parked?.lastError ?? null},
            traceparent = coalesce(${traceparent}::text, traceparent)
          where id = ${id}::uuid and version = ${change.expectedVersion}
          returning id`
      : sql`
          insert into sagas (id, type, status, version, definition_version, state, deadline_at,
            correlation_id, traceparent, updated_at)
          values (${id}::uuid, ${sagaType}, ${state.status}, ${version}, ${change.definitionVersion},
            ${json}::jsonb, ${change.deadlineAt}::timestamptz, ${state.correlationId}::uuid,
            ${traceparent}::text, now())
          on conflict (id) do nothing
          returning id`;
  const history = sql.join(
    transitions.map(
      (t) =>
        sql`(${t.version}::int, ${t.from}::text, ${t.to}::text, ${t.cause}::text, ${t.note ?? null}::text, ${t.emitted}::uuid[])`,
    ),
  );
  const alongside = writes.map((write, index) => sql`${sql.raw(`w${index}`)} as (${write}), `);
  const { rows: inserted } = await sql<{ version: number }>`
    with ${sql.join(alongside, sql``)} saved as (${saved})
    insert into saga_transitions
      (saga_id, version, from_status, to_status, cause_type, cause_event_id, note, emitted_event_ids)
    select saved.id, t.version, t.from_status, t.to_status, t.cause_type, ${change.causationId}::uuid,
      t.note, t.emitted
    from saved, (values ${history}) as t (version, from_status, to_status, cause_type, note, emitted)
    returning version
  `.execute(trx);
  if (inserted.length !== transitions.length) throw new SagaConflictError(id);
}
