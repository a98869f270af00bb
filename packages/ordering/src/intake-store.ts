import { randomUUID } from 'node:crypto';
import type { Database, StoredResponse } from '@orders/db';
import type { DomainEvent } from '@orders/events';
import { type OutboxRow, outboxRows } from '@orders/messaging';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';

export interface IntakeStoreOptions {
  /** How long a completed response is replayed; after that the key is new again. */
  ttlSeconds: number;
  /** How long an in-flight request holds its key before a retry may take it over. */
  lockSeconds: number;
}

/** An Idempotency-Key claimed by this request. */
export interface KeyClaim {
  scope: string;
  key: string;
  /** Proves the claim is still this request's when it completes or releases it. */
  token: string;
}

/** What an order's lines cost now, and how many open orders its customer has. */
export interface Quote {
  /** Keyed by sku; unknown skus are absent. */
  prices: Map<string, { priceMinor: number; currency: string }>;
  /** The customer's orders placed and not yet paid or cancelled. */
  openOrders: number;
  /** The database's clock: the time of an order is the database's. */
  now: Date;
}

/** The lines to price and the customer to count open orders of (see `IntakeStore.quote`). */
interface QuoteRequest {
  skus: readonly string[];
  customerId: string;
}

export type KeyOutcome =
  | {
      outcome: 'started';
      claim: KeyClaim;
      /** The quote asked for with the claim, taken in the claim's statement. */
      quote?: Quote;
    }
  | { outcome: 'replay'; response: StoredResponse };

/**
 * Every statement that placing an order runs (`POST /orders`), in one place: the
 * Idempotency-Key protocol, the catalog prices, and the one statement that writes the order.
 * - `claimKey` claims the key for a request fingerprint, or answers the stored response of
 *   the same request, or refuses: another request under that key (422), or the same one
 *   still in flight (409). An in-flight claim whose lock expired (its holder crashed) is
 *   taken over.
 * - `recordOrder` writes the order, its items, the outbox row of its OrderPlaced and (with a
 *   claim) the key's response, in one statement.
 * - `releaseKey` frees the key of a request that failed without effects, so a retry may run.
 */
export interface IntakeStore {
  /**
   * With `quoting`, a claim that starts also answers `quote(quoting)`, read in the claim's
   * statement: one round trip for both.
   */
  claimKey(
    scope: string,
    key: string,
    fingerprint: string,
    quoting?: QuoteRequest,
  ): Promise<KeyOutcome>;
  /**
   * The catalog prices of `skus`, keyed by sku (unknown skus are absent), how many open
   * orders (placed, not yet paid or cancelled) `customerId` has, and the database's clock:
   * the time of an order is the database's, as every time two functions compare.
   */
  quote(request: QuoteRequest): Promise<Quote>;
  /**
   * @throws IdempotencyKeyInFlightError when another request took the key over meanwhile;
   * then nothing was written.
   */
  recordOrder(
    placed: DomainEvent<'OrderPlaced'>,
    completes?: { claim: KeyClaim; response: StoredResponse },
  ): Promise<void>;
  releaseKey(claim: KeyClaim): Promise<void>;
}

export function createPostgresIntakeStore(
  db: Kysely<Database>,
  { ttlSeconds, lockSeconds }: IntakeStoreOptions,
): IntakeStore {
  // From when the claim lands, not from when its statement started (`now()`): the statement
  // that also reads the quote waits for the catalog's locks before it inserts anything.
  const secondsFromClaim = (seconds: number) =>
    sql<Date>`clock_timestamp() + make_interval(secs => ${seconds})`;

  // WARNING: the claim commits without waiting for its WAL flush (synchronous_commit off for
  // this statement only). A claim lost in a server crash lets a retry claim the key again,
  // which is right: nothing was written under it yet. The write that completes it is durable,
  // and flushing its commit flushes every earlier one, the claim's included. A quote asked
  // for is read in the same statement (it writes nothing), when the claim starts.
  async function tryClaim(
    scope: string,
    key: string,
    fingerprint: string,
    token: string,
    quoting: QuoteRequest | undefined,
  ): Promise<{ quote?: Quote } | undefined> {
    const claim = sql`
      insert into idempotency_keys as held
        (scope, key, fingerprint, status, lock_token, locked_until, expires_at)
      select ${scope}, ${key}, ${fingerprint}, 'in_flight', ${token}::uuid,
        ${secondsFromClaim(lockSeconds)}, ${secondsFromClaim(ttlSeconds)}
      from relaxed
      on conflict (scope, key) do update set
        fingerprint = excluded.fingerprint,
        status = 'in_flight',
        lock_token = excluded.lock_token,
        locked_until = excluded.locked_until,
        response = null,
        expires_at = excluded.expires_at
      -- Take over an expired key, or the stale claim of the same request whose holder died.
      where held.expires_at < now()
        or (held.status = 'in_flight' and held.locked_until < now()
          and held.fingerprint = excluded.fingerprint)
      returning lock_token`;
    if (!quoting) {
      const { rows } = await sql<{ lock_token: string }>`
        with relaxed as (select set_config('synchronous_commit', 'off', true))
        ${claim}`.execute(db);
      return rows.length > 0 ? {} : undefined;
    }
    const { rows } = await sql<QuoteRow & { lock_token: string | null }>`
      with relaxed as (select set_config('synchronous_commit', 'off', true)),
      claimed as (${claim})
      select claimed.lock_token, quote.*
      from (select) as clock
      left join claimed on true
      left join lateral (${quoteQuery(quoting)}) as quote on claimed.lock_token is not null`.execute(
      db,
    );
    return rows[0]!.lock_token === null ? undefined : { quote: quoteOf(rows) };
  }

  return {
    async claimKey(scope, key, fingerprint, quoting) {
      const token = randomUUID();
      // A key released between our insert and our read is simply claimed on the next pass.
      for (let attempt = 0; attempt < 3; attempt++) {
        const started = await tryClaim(scope, key, fingerprint, token, quoting);
        if (started) return { outcome: 'started', claim: { scope, key, token }, ...started };
        const existing = await db
          .selectFrom('idempotency_keys')
          .select([
            'fingerprint',
            'status',
            'response',
            sql<number>`greatest(1, ceil(extract(epoch from locked_until - now())))::int`.as(
              'retry_after',
            ),
          ])
          .where('scope', '=', scope)
          .where('key', '=', key)
          .executeTakeFirst();
        if (!existing) continue;
        if (existing.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key);
        if (existing.status === 'in_flight' || !existing.response) {
          throw new IdempotencyKeyInFlightError(key, existing.retry_after ?? lockSeconds);
        }
        return { outcome: 'replay', response: existing.response };
      }
      throw new IdempotencyKeyInFlightError(key, 1);
    },

    async quote(request) {
      const { rows } = await quoteQuery(request).execute(db);
      return quoteOf(rows);
    },

    async recordOrder(placed, completes) {
      if (!completes) return void (await writeOrder(db, placed, sql`select 1`));
      const { claim, response } = completes;
      const completion = sql`
        update idempotency_keys
        set status = 'completed', response = ${JSON.stringify(response)}::jsonb,
          lock_token = null, locked_until = null
        where scope = ${claim.scope} and key = ${claim.key} and lock_token = ${claim.token}::uuid
        returning 1`;
      if (!(await writeOrder(db, placed, completion))) {
        throw new IdempotencyKeyInFlightError(claim.key, lockSeconds);
      }
    },

    async releaseKey(claim) {
      await db
        .deleteFrom('idempotency_keys')
        .where('scope', '=', claim.scope)
        .where('key', '=', claim.key)
        .where('lock_token', '=', claim.token)
        .execute();
    },
  };
}

interface QuoteRow {
  now: Date;
  open_orders: number;
  sku: string | null;
  price_minor: number;
  currency: string;
}

/** One row per known sku (one with a null sku when none is known), each with the clock and count. */
function quoteQuery({ skus, customerId }: QuoteRequest) {
  return sql<QuoteRow>`
    select now() as now, p.sku, p.price_minor, p.currency,
      (select count(*)::int from orders
        where customer_id = ${customerId} and status in ('PLACED', 'AWAITING_PAYMENT')
      ) as open_orders
    from (select) as clock left join products p on p.sku = any(${skus}::text[])`;
}

function quoteOf(rows: readonly QuoteRow[]): Quote {
  const prices = new Map<string, { priceMinor: number; currency: string }>();
  for (const row of rows) {
    if (row.sku !== null)
      prices.set(row.sku, { priceMinor: row.price_minor, currency: row.currency });
  }
  return { prices, openOrders: rows[0]!.open_orders, now: rows[0]!.now };
}

/**
 * Writes a placed order as intake does, without an Idempotency-Key: for tests and
 * benchmarks that need orders in the database (`db` may be a transaction).
 */
export async function insertPlacedOrder(
  db: Kysely<Database>,
  placed: DomainEvent<'OrderPlaced'>,
): Promise<void> {
  await writeOrder(db, placed, sql`select 1`);
}

/**
 * Deletes up to `limit` Idempotency-Keys past their expiry, oldest first (housekeeping's
 * retention, `purgeKeys`); returns how many. A key a request takes over meanwhile (its
 * expiry moved on) is read again and kept.
 */
export async function purgeExpiredKeys(
  db: Kysely<Database>,
  { limit = 1_000 }: { limit?: number } = {},
): Promise<number> {
  const result = await sql`
    delete from idempotency_keys
    where (scope, key) in (
        select scope, key from idempotency_keys
        where expires_at < now()
        order by expires_at
        limit ${limit})
      and expires_at < now()`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Writes the order, its items and the outbox row of its OrderPlaced in one statement: one
 * round trip, atomic on its own. `guard` (the completion of the Idempotency-Key, or
 * `select 1`) runs as part of it, and the rows are written only when it returns a row.
 * Returns whether they were written.
 */
async function writeOrder(
  db: Kysely<Database>,
  placed: DomainEvent<'OrderPlaced'>,
  guard: RawBuilder<unknown>,
): Promise<boolean> {
  const { orderId, customerId, currency, totalMinor, items } = placed.data;
  // Only a v1 producer's OrderPlaced lacks them; the intake always prices its lines.
  if (!items) throw new Error(`order ${orderId} has no items: the intake places none such`);
  const at = placed.occurredAt;
  const [outbox] = outboxRows('place-order', [placed]) as [OutboxRow];
  const itemRows = sql.join(
    items.map(
      (item) =>
        sql`(${orderId}::uuid, ${item.sku}::text, ${item.quantity}::integer, ${item.unitPriceMinor}::bigint)`,
    ),
  );
  const result = await sql<{ written: number }>`
    with guard as (${guard}),
    new_order as (
      insert into orders
        (id, customer_id, currency, total_minor, status, correlation_id, created_at, updated_at)
      select ${orderId}::uuid, ${customerId}::text, ${currency}::char(3), ${totalMinor}::bigint,
        'PLACED', ${placed.correlationId}::uuid, ${at}::timestamptz, ${at}::timestamptz
      from guard
    ),
    new_items as (
      insert into order_items (order_id, sku, quantity, unit_price_minor)
      select item.* from guard
      cross join (values ${itemRows}) as item (order_id, sku, quantity, unit_price_minor)
    ),
    new_outbox as (
      insert into outbox (id, event, producer, traceparent)
      select ${outbox.id}::uuid, ${outbox.event}::jsonb, ${outbox.producer}::text,
        ${outbox.traceparent}::text
      from guard
    )
    select count(*)::integer as written from guard`.execute(db);
  return result.rows[0]!.written > 0;
}
