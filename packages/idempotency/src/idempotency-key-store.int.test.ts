import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@orders/db';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError } from './idempotency-errors';
import { createIdempotencyKeyStore, purgeExpiredKeys } from './idempotency-key-store';

let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('idempotency-keys');
});
afterAll(() => database?.close());

const response = { status: 202, headers: { location: '/orders/1' }, body: '{"orderId":"1"}' };
/** A write that is the completion alone, in `executor` (a transaction, or the pool). */
const alone =
  (executor: Kysely<Database>) =>
  async (completion: RawBuilder<unknown>): Promise<boolean> =>
    (await completion.execute(executor)).rows.length > 0;
let n = 0;
const newKey = () => `key-${++n}`;

describe('createIdempotencyKeyStore', () => {
  const store = () => createIdempotencyKeyStore(database.db, { ttlSeconds: 3600, lockSeconds: 30 });

  it('claims a new key, refuses it while in flight, then replays the stored response', async () => {
    const keys = store();
    const key = newKey();
    const claim = await keys.begin('s', key, 'fp');
    expect(claim.outcome).toBe('started');
    if (claim.outcome !== 'started') return;

    const inFlight = keys.begin('s', key, 'fp');
    await expect(inFlight).rejects.toBeInstanceOf(IdempotencyKeyInFlightError);
    await expect(inFlight).rejects.toMatchObject({ retryAfterSeconds: expect.any(Number) });

    await keys.complete(claim, response, alone(database.db));
    expect(await keys.begin('s', key, 'fp')).toEqual({ outcome: 'replay', response });
  });

  it('refuses the key with another fingerprint, in flight or completed', async () => {
    const keys = store();
    const key = newKey();
    const claim = await keys.begin('s', key, 'fp');
    await expect(keys.begin('s', key, 'other')).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    if (claim.outcome === 'started') await keys.complete(claim, response, alone(database.db));
    await expect(keys.begin('s', key, 'other')).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
  });

  it('stores nothing when the transaction rolls back, and frees a released key', async () => {
    const keys = store();
    const key = newKey();
    const claim = await keys.begin('s', key, 'fp');
    if (claim.outcome !== 'started') throw new Error('expected a new claim');
    await expect(
      database.db.transaction().execute(async (trx) => {
        await keys.complete(claim, response, alone(trx));
        throw new Error('effects failed');
      }),
    ).rejects.toThrow('effects failed');
    await keys.release(claim);
    expect((await keys.begin('s', key, 'fp')).outcome).toBe('started');
  });

  it('lets a retry take over the claim of a request that died, once its lock expires', async () => {
    const keys = createIdempotencyKeyStore(database.db, { ttlSeconds: 3600, lockSeconds: 1 });
    const key = newKey();
    const dead = await keys.begin('s', key, 'fp');
    await expect(keys.begin('s', key, 'fp')).rejects.toBeInstanceOf(IdempotencyKeyInFlightError);
    await sql`update idempotency_keys set locked_until = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );
    await expect(keys.begin('s', key, 'other')).rejects.toBeInstanceOf(IdempotencyKeyReusedError);

    const retry = await keys.begin('s', key, 'fp');
    expect(retry.outcome).toBe('started');
    // The slow original can no longer complete: its transaction fails and writes nothing.
    if (dead.outcome !== 'started' || retry.outcome !== 'started')
      throw new Error('expected claims');
    await expect(keys.complete(dead, response, alone(database.db))).rejects.toBeInstanceOf(
      IdempotencyKeyInFlightError,
    );
    await keys.complete(retry, response, alone(database.db));
    expect(await keys.begin('s', key, 'fp')).toEqual({ outcome: 'replay', response });
  });

  it('completes in the statement of the write, which writes nothing once the key was taken over', async () => {
    const keys = createIdempotencyKeyStore(database.db, { ttlSeconds: 3600, lockSeconds: 1 });
    await sql`create table if not exists key_effects (key text primary key)`.execute(database.db);
    const effect = (key: string) => (completion: RawBuilder<unknown>) =>
      sql<{ n: number }>`
        with done as (${completion}),
        effect as (insert into key_effects (key) select ${key} from done)
        select count(*)::int as n from done`
        .execute(database.db)
        .then(({ rows }) => rows[0]!.n > 0);
    const effects = async (key: string) =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from key_effects where key = ${key}`.execute(database.db)
      ).rows[0]!.n;

    const key = newKey();
    const claim = await keys.begin('s', key, 'fp');
    if (claim.outcome !== 'started') throw new Error('expected a claim');
    await keys.complete(claim, response, effect(key));
    expect(await effects(key)).toBe(1);
    expect(await keys.begin('s', key, 'fp')).toEqual({ outcome: 'replay', response });

    const slowKey = newKey();
    const slow = await keys.begin('s', slowKey, 'fp');
    await sql`update idempotency_keys set locked_until = now() - interval '1 second' where key = ${slowKey}`.execute(
      database.db,
    );
    const retry = await keys.begin('s', slowKey, 'fp');
    if (slow.outcome !== 'started' || retry.outcome !== 'started')
      throw new Error('expected claims');
    await expect(keys.complete(slow, response, effect(slowKey))).rejects.toBeInstanceOf(
      IdempotencyKeyInFlightError,
    );
    expect(await effects(slowKey)).toBe(0);
    await keys.complete(retry, response, effect(slowKey));
    expect(await effects(slowKey)).toBe(1);
  });

  it('forgets a key after it expires, and purges expired keys', async () => {
    const keys = store();
    const key = newKey();
    const claim = await keys.begin('s', key, 'fp');
    if (claim.outcome !== 'started') throw new Error('expected a new claim');
    await keys.complete(claim, response, alone(database.db));
    await sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );

    expect((await keys.begin('s', key, 'another body')).outcome).toBe('started');
    await sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`.execute(
      database.db,
    );
    expect(await purgeExpiredKeys(database.db)).toBeGreaterThanOrEqual(1);
    const left = await database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', '=', key)
      .execute();
    expect(left).toEqual([]);
  });

  it('keeps scopes apart', async () => {
    const keys = store();
    const key = newKey();
    expect((await keys.begin('a', key, 'fp')).outcome).toBe('started');
    expect((await keys.begin('b', key, 'other')).outcome).toBe('started');
  });
});
