import { createHash, randomUUID } from 'node:crypto';
import type { Database, StoredResponse } from '@orders/db';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';

export interface IdempotencyKeyStoreOptions {
  /** How long a completed response is replayed; after that the key is new again. */
  ttlSeconds: number;
  /** How long an in-flight request holds its key before a retry may take it over. */
  lockSeconds: number;
}

export type Claim =
  | { outcome: 'started'; scope: string; key: string; token: string }
  | { outcome: 'replay'; response: StoredResponse };

/**
 * The HTTP Idempotency-Key protocol:
 * - `begin` claims the key for a request fingerprint, or replays the stored response of the
 *   same request, or refuses: another request under that key (422), or the same one still
 *   in flight (409). An in-flight claim whose lock expired (its holder crashed) is taken over.
 * - `complete` stores the response in the caller's own write statement, with the effects.
 * - `release` frees the key of a request that failed without effects, so a retry may run.
 */
export interface IdempotencyKeyStore {
  begin(scope: string, key: string, fingerprint: string): Promise<Claim>;
  /**
   * Stores the response in the caller's own write statement, one round trip for both: `write`
   * runs `completion` as part of its statement, writes its rows only if `completion` returns
   * one, and answers whether it wrote them.
   * @throws IdempotencyKeyInFlightError when another request took the key over meanwhile;
   * then nothing was written.
   */
  complete(
    claim: Extract<Claim, { outcome: 'started' }>,
    response: StoredResponse,
    write: (completion: RawBuilder<unknown>) => Promise<boolean>,
  ): Promise<void>;
  release(claim: Extract<Claim, { outcome: 'started' }>): Promise<void>;
}

/** Deletes Idempotency-Keys past their expiry (housekeeping); returns how many. */
export async function purgeExpiredKeys(db: Kysely<Database>): Promise<number> {
  const result = await db
    .deleteFrom('idempotency_keys')
    .where('expires_at', '<', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** sha256 over the method, path and the body with object keys sorted. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n`)
    .update(JSON.stringify(body, (_key, value) => sortKeys(value)) ?? '')
    .digest('hex');
}

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function createIdempotencyKeyStore(
  db: Kysely<Database>,
  { ttlSeconds, lockSeconds }: IdempotencyKeyStoreOptions,
): IdempotencyKeyStore {
  const secondsFromNow = (seconds: number) => sql<Date>`now() + make_interval(secs => ${seconds})`;

  // WARNING: the claim commits without waiting for its WAL flush (synchronous_commit off for
  // this statement only). A claim lost in a server crash lets a retry claim the key again,
  // which is right: nothing was written under it yet. The write that completes it is durable,
  // and flushing its commit flushes every earlier one, the claim's included.
  async function tryClaim(scope: string, key: string, fingerprint: string, token: string) {
    const result = await sql<{ lock_token: string }>`
      with relaxed as (select set_config('synchronous_commit', 'off', true))
      insert into idempotency_keys as held
        (scope, key, fingerprint, status, lock_token, locked_until, expires_at)
      select ${scope}, ${key}, ${fingerprint}, 'in_flight', ${token}::uuid,
        ${secondsFromNow(lockSeconds)}, ${secondsFromNow(ttlSeconds)}
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
      returning lock_token`.execute(db);
    return result.rows[0];
  }

  return {
    async begin(scope, key, fingerprint) {
      const token = randomUUID();
      // A key released between our insert and our read is simply claimed on the next pass.
      for (let attempt = 0; attempt < 3; attempt++) {
        if (await tryClaim(scope, key, fingerprint, token)) {
          return { outcome: 'started', scope, key, token };
        }
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

    async complete(claim, response, write) {
      const completion = sql`
        update idempotency_keys
        set status = 'completed', response = ${JSON.stringify(response)}::jsonb,
          lock_token = null, locked_until = null
        where scope = ${claim.scope} and key = ${claim.key} and lock_token = ${claim.token}::uuid
        returning 1`;
      if (!(await write(completion))) {
        throw new IdempotencyKeyInFlightError(claim.key, lockSeconds);
      }
    },

    async release(claim) {
      await db
        .deleteFrom('idempotency_keys')
        .where('scope', '=', claim.scope)
        .where('key', '=', claim.key)
        .where('lock_token', '=', claim.token)
        .execute();
    },
  };
}
