import type { Database } from '@orders/db';
import { purgeSentRows } from '@orders/messaging';
import { type Kysely, sql } from 'kysely';
import { purgeExpiredKeys } from './intake-store';
import { type OrderSagaStatus, orderSagaType } from './order-saga';
import { redrivableOrderPlacedRows } from './stalled-orders';

/**
 * Retention (housekeeping, each tick): what grows with every order and is needed only for a
 * while is deleted once it is older than its window, oldest first, in batches of
 * `batchSize` rows (one statement each, so no lock is held long), at most `maxRows` a run.
 * Each batch finds its rows through an index on their age (migration 0014-retention), so it
 * costs the same however many orders came before.
 */
export interface Batches {
  /** Rows per statement. */
  batchSize: number;
  /** The most rows one run deletes; the rest wait for the next tick. */
  maxRows: number;
}

export interface Purge {
  deleted: number;
  /** The run stopped at `maxRows`: more may be due (retention is behind if this lasts). */
  capped: boolean;
}

/** Calls `deleteBatch` until a batch comes back short or `maxRows` rows are deleted. */
async function inBatches(
  deleteBatch: (limit: number) => Promise<number>,
  { batchSize, maxRows }: Batches,
): Promise<Purge> {
  let deleted = 0;
  while (deleted < maxRows) {
    const limit = Math.min(batchSize, maxRows - deleted);
    const count = await deleteBatch(limit);
    deleted += count;
    if (count < limit) return { deleted, capped: false };
  }
  return { deleted, capped: true };
}

function ago(seconds: number) {
  return sql<Date>`now() - make_interval(secs => ${seconds})`;
}

/**
 * Inbox claims (`processed_events`, every consumer's) older than `olderThanSeconds`. A claim
 * is what makes a redelivered event a duplicate: its window must outlast every redelivery of
 * its event (the subscription's retention, the dead-letter queue's and a replay from it),
 * which the caller's configuration holds it to.
 */
export function purgeClaims(
  db: Kysely<Database>,
  { olderThanSeconds, ...batches }: { olderThanSeconds: number } & Batches,
): Promise<Purge> {
  return inBatches(async (limit) => {
    const result = await sql`
      delete from processed_events
      where (consumer, event_id) in (
        select consumer, event_id from processed_events
        where processed_at < ${ago(olderThanSeconds)}
        order by processed_at
        limit ${limit})`.execute(db);
    return Number(result.numAffectedRows ?? 0n);
  }, batches);
}

/**
 * Outbox rows sent more than `olderThanSeconds` ago, except the OrderPlaced of an order
 * still placed with no saga (a re-drive publishes it again). Never a row still unsent or set
 * aside (see `purgeSentRows`).
 */
export async function purgeSentOutbox(
  db: Kysely<Database>,
  { olderThanSeconds, ...batches }: { olderThanSeconds: number } & Batches,
): Promise<Purge> {
  const keep = await redrivableOrderPlacedRows(db, { sentBeforeSecondsAgo: olderThanSeconds });
  return inBatches((limit) => purgeSentRows(db, { olderThanSeconds, limit, keep }), batches);
}

/** A saga in one of these, with no deadline, is at rest: nothing it waits for. */
const atRest = ['CONFIRMED', 'CANCELLED'] as const satisfies readonly OrderSagaStatus[];

/** The statuses at rest, as the partial index saga_transitions_to_rest spells them. */
const toRest = sql.raw(`(${atRest.map((status) => `'${status}'`).join(', ')})`);

/**
 * The history (`saga_transitions`) of order sagas at rest (CONFIRMED or CANCELLED with no
 * deadline: not waiting for a refund) whose last move was more than `olderThanSeconds` ago.
 * The saga row stays, with its status, version and state: news that still comes (a late
 * payment) is decided on as before, and its moves are recorded from the next version on.
 *
 * Each batch finds its sagas by their moves into a status at rest, oldest first (index
 * saga_transitions_to_rest, migration 0016): the last move of a saga at rest is one, and it
 * goes last, with the rest of its history (a batch cut short leaves it for the next). The
 * moves of sagas not at rest are not in that index, and sagas whose history is gone are
 * not reached, so each batch reads what it deletes, not what it keeps. The sagas it picks are
 * share-locked: one that a late result moves meanwhile is waited for and judged again.
 */
export function purgeRestingSagaHistory(
  db: Kysely<Database>,
  { olderThanSeconds, ...batches }: { olderThanSeconds: number } & Batches,
): Promise<Purge> {
  return inBatches(async (limit) => {
    const cutoff = ago(olderThanSeconds);
    const result = await sql`
      with due as (
        select r.saga_id, r.at from saga_transitions r
        join sagas s on s.id = r.saga_id
        where r.to_status in ${toRest} and r.at < ${cutoff}
          and s.type = ${orderSagaType} and s.status in ${toRest}
          and s.deadline_at is null and s.updated_at < ${cutoff}
        order by r.at
        limit ${limit}
        -- A saga moved meanwhile (a late result gives it a refund deadline) is waited for,
        -- then judged again as it is now.
        for share of s),
      sagas_due as (select saga_id, min(at) as since from due group by saga_id)
      delete from saga_transitions
      where (saga_id, version) in (
        select t.saga_id, t.version from saga_transitions t
        join sagas_due d on d.saga_id = t.saga_id
        order by d.since, t.saga_id, t.version
        limit ${limit})`.execute(db);
    return Number(result.numAffectedRows ?? 0n);
  }, batches);
}

/** Idempotency-Keys past their expiry (`IDEMPOTENCY_TTL_SECONDS` of place-order). */
export function purgeKeys(db: Kysely<Database>, batches: Batches): Promise<Purge> {
  return inBatches((limit) => purgeExpiredKeys(db, { limit }), batches);
}
