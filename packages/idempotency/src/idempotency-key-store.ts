import { createHash, randomUUID } from 'node:crypto';
import type { Database, StoredResponse } from '@orders/db';
import { type Kysely, sql } from 'kysely';
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
 * - `complete` stores the response in the caller's transaction, with the effects.
 * - `release` frees the key of a request that failed without effects, so a retry may run.
 */
export interface IdempotencyKeyStore {
  begin(scope: string, key: string, fingerprint: string): Promise<Claim>;
  /** @throws IdempotencyKeyInFlightError when another request took the key over meanwhile. */
  complete(
    trx: Kysely<Database>,
    claim: Extract<Claim, { outcome: 'started' }>,
    response: StoredResponse,
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

  async function tryClaim(scope: string, key: string, fingerprint: string, token: string) {
    return db
      .insertInto('idempotency_keys')
      .values({
        scope,
        key,
        fingerprint,
        status: 'in_flight',
        lock_token: token,
        locked_until: secondsFromNow(lockSeconds),
        expires_at: secondsFromNow(ttlSeconds),
      })
      .onConflict((conflict) =>
        conflict
          .columns(['scope', 'key'])
          .doUpdateSet((eb) => ({
            fingerprint: eb.ref('excluded.fingerprint'),
            status: 'in_flight',
            lock_token: eb.ref('excluded.lock_token'),
            locked_until: eb.ref('excluded.locked_until'),
            response: null,
            expires_at: eb.ref('excluded.expires_at'),
          }))
          // Take over an expired key, or the stale claim of the same request whose holder died.
          .where((eb) =>
            eb.or([
              eb('idempotency_keys.expires_at', '<', sql<Date>`now()`),
              eb.and([
                eb('idempotency_keys.status', '=', 'in_flight'),
                eb('idempotency_keys.locked_until', '<', sql<Date>`now()`),
                eb('idempotency_keys.fingerprint', '=', eb.ref('excluded.fingerprint')),
              ]),
            ]),
          ),
      )
      .returning('lock_token')
      .executeTakeFirst();
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

    async complete(trx, claim, response) {
      const updated = await trx
        .updateTable('idempotency_keys')
        .set({
          status: 'completed',
          response: JSON.stringify(response),
          lock_token: null,
          locked_until: null,
        })
        .where('scope', '=', claim.scope)
        .where('key', '=', claim.key)
        .where('lock_token', '=', claim.token)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
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
