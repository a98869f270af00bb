import type { Database } from '@orders/db';
import { sagaTopic } from '@orders/events';
import { resendToTopic } from '@orders/messaging';
import { type Kysely, type RawBuilder, sql } from 'kysely';

/**
 * Orders whose OrderPlaced never reached the saga (dead-lettered, say) stay PLACED with no
 * saga. They are found by age and driven again: their OrderPlaced goes once more to the
 * saga's topic, through the outbox relay's per-route bookkeeping, with the same event id (the
 * saga's inbox keeps a duplicate harmless).
 */

/** An order placed long ago that has no saga, as `pnpm sagas stalled` shows it. */
export interface StalledOrder {
  orderId: string;
  correlationId: string;
  /** ISO, UTC. */
  placedAt: string;
  ageSeconds: number;
  /** Re-drives so far, and the last one (ISO, UTC). */
  redrives: number;
  lastRedriveAt: string | null;
}

interface StalledQuery {
  /** Placed at least this long ago. */
  olderThanSeconds: number;
  /** Only those due for a re-drive: fewer than this so far, none in `olderThanSeconds`. */
  dueBelow?: number;
  /** Only those re-driven this many times or more. */
  redrivenAtLeast?: number;
  limit: number;
}

function findStalledOrders(
  db: Kysely<Database>,
  { olderThanSeconds, dueBelow, redrivenAtLeast, limit }: StalledQuery,
) {
  const longAgo = sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`;
  let query = db
    .selectFrom('orders as o')
    .leftJoin('order_redrives as r', 'r.order_id', 'o.id')
    .select([
      'o.id',
      'o.correlation_id',
      'o.created_at',
      sql<number>`floor(extract(epoch from now() - o.created_at))::int`.as('age_seconds'),
      sql<number>`coalesce(r.attempts, 0)`.as('redrives'),
      'r.last_redriven_at',
    ])
    .where('o.status', '=', 'PLACED')
    .where('o.created_at', '<=', longAgo)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('sagas as s').select('s.id').whereRef('s.id', '=', 'o.id'))),
    );
  if (dueBelow !== undefined) {
    query = query.where((eb) =>
      eb.or([
        eb('r.attempts', 'is', null),
        eb.and([eb('r.attempts', '<', dueBelow), eb('r.last_redriven_at', '<=', longAgo)]),
      ]),
    );
  }
  if (redrivenAtLeast !== undefined) query = query.where('r.attempts', '>=', redrivenAtLeast);
  return query.orderBy('o.created_at').limit(limit).execute();
}

function toStalledOrder(row: Awaited<ReturnType<typeof findStalledOrders>>[number]): StalledOrder {
  return {
    orderId: row.id,
    correlationId: row.correlation_id,
    placedAt: row.created_at.toISOString(),
    ageSeconds: row.age_seconds,
    redrives: row.redrives,
    lastRedriveAt: row.last_redriven_at?.toISOString() ?? null,
  };
}

/** The orders still PLACED, with no saga, placed at least `olderThanSeconds` ago, oldest first. */
export async function listStalledOrders(
  db: Kysely<Database>,
  options: { olderThanSeconds: number; limit: number },
): Promise<StalledOrder[]> {
  return (await findStalledOrders(db, options)).map(toStalledOrder);
}

/** What a re-drive of one order would find: its order, its saga and its OrderPlaced row. */
export interface RedriveCandidate {
  orderId: string;
  status: string;
  correlationId: string;
  /** The status of its saga; null when it has none. */
  sagaStatus: string | null;
  redrives: number;
  /** Its OrderPlaced in the outbox: null when there is none. */
  eventId: string | null;
  /** Why that row was set aside, if it was (the relay never publishes it). */
  setAsideReason: string | null;
}

/** One order as a re-drive sees it; undefined when there is no such order. */
export async function findRedriveCandidate(
  db: Kysely<Database>,
  orderId: string,
): Promise<RedriveCandidate | undefined> {
  const { rows } = await sql<RedriveCandidate>`
    select o.id as "orderId", o.status, o.correlation_id as "correlationId",
      s.status as "sagaStatus", coalesce(r.attempts, 0) as redrives,
      x.id as "eventId", x.set_aside_reason as "setAsideReason"
    from orders o
    left join sagas s on s.id = o.id
    left join order_redrives r on r.order_id = o.id
    left join lateral (${orderPlacedRows(sql`o.id`)} limit 1) x on true
    where o.id = ${orderId}::uuid`.execute(db);
  return rows[0];
}

/** The outbox rows of the OrderPlaced of order `orderId` (an SQL expression). */
function orderPlacedRows(orderId: RawBuilder<unknown>) {
  // As the index outbox_order_placed is written.
  return sql`
    select id, set_aside_reason, sent_at from outbox
    where event->>'type' = 'OrderPlaced' and (event->>'subject') = ${orderId}::text`;
}

/**
 * The OrderPlaced rows that a re-drive may still publish again, sent before
 * `sentBeforeSecondsAgo`: those of every order still PLACED with no saga. Retention keeps
 * them (`purgeSentOutbox`), however old, until the order has its saga.
 */
export async function redrivableOrderPlacedRows(
  db: Kysely<Database>,
  { sentBeforeSecondsAgo }: { sentBeforeSecondsAgo: number },
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select x.id from orders o
    cross join lateral (${orderPlacedRows(sql`o.id`)}) x
    where o.status = 'PLACED' and not exists (select 1 from sagas s where s.id = o.id)
      and x.sent_at < now() - make_interval(secs => ${sentBeforeSecondsAgo})`.execute(db);
  return rows.map((row) => row.id);
}

export interface Redrive {
  /** The OrderPlaced the relay publishes again; null when the outbox has none to publish. */
  eventId: string | null;
  /** Re-drives of the order so far, this one included. */
  redrives: number;
}

/**
 * Re-drives order `orderId` if it is still PLACED with no saga: counts the re-drive and marks
 * its OrderPlaced unsent to the saga's topic, in one transaction. With `spacing`, only when it
 * has been re-driven fewer than `maxRedrives` times and not within `seconds` (two ticks
 * racing re-drive it once). Returns undefined when nothing was done.
 */
export async function redriveOrder(
  db: Kysely<Database>,
  orderId: string,
  spacing?: { seconds: number; maxRedrives: number },
): Promise<Redrive | undefined> {
  const due = spacing
    ? sql`where order_redrives.attempts < ${spacing.maxRedrives}
        and order_redrives.last_redriven_at <= now() - make_interval(secs => ${spacing.seconds})`
    : sql``;
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ attempts: number; placed: string[] }>`
      with target as (
        select o.id from orders o
        where o.id = ${orderId}::uuid and o.status = 'PLACED'
          and not exists (select 1 from sagas s where s.id = o.id)
      ),
      counted as (
        insert into order_redrives (order_id, attempts, last_redriven_at)
        select id, 1, now() from target
        on conflict (order_id) do update
          set attempts = order_redrives.attempts + 1, last_redriven_at = excluded.last_redriven_at
          ${due}
        returning order_id, attempts
      )
      select c.attempts,
        array(select p.id from (${orderPlacedRows(sql`c.order_id`)}) p) as placed
      from counted c`.execute(trx);
    const counted = rows[0];
    if (!counted) return undefined;
    // Its OrderPlaced is due again to the saga's topic only (the outbox's bookkeeping).
    const [eventId] = await resendToTopic(trx, sagaTopic, counted.placed);
    return { eventId: eventId ?? null, redrives: counted.attempts };
  });
}

export interface StalledOrdersReport {
  /** The orders re-driven now, with the OrderPlaced going out again (null: none to publish). */
  redriven: (Pick<StalledOrder, 'orderId' | 'correlationId'> & Redrive)[];
  /** Stalled orders re-driven `maxRedrives` times already: for an operator now. */
  leftForOperator: StalledOrder[];
}

/**
 * The housekeeping step: re-drives the orders stalled for `stalledSeconds` (PLACED, no
 * saga), at most `maxRedrives` times each, `stalledSeconds` apart; reports those left over.
 */
export async function redriveStalledOrders(
  db: Kysely<Database>,
  {
    stalledSeconds,
    maxRedrives,
    limit = 100,
  }: { stalledSeconds: number; maxRedrives: number; limit?: number },
): Promise<StalledOrdersReport> {
  const due = await findStalledOrders(db, {
    olderThanSeconds: stalledSeconds,
    dueBelow: maxRedrives,
    limit,
  });
  const redriven: StalledOrdersReport['redriven'] = [];
  for (const order of due) {
    const done = await redriveOrder(db, order.id, { seconds: stalledSeconds, maxRedrives });
    if (done) redriven.push({ orderId: order.id, correlationId: order.correlation_id, ...done });
  }
  const left = await findStalledOrders(db, {
    olderThanSeconds: stalledSeconds,
    redrivenAtLeast: maxRedrives,
    limit: 1_000,
  });
  return { redriven, leftForOperator: left.map(toStalledOrder) };
}
