import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';
import { claimEvent } from './inbox';

let database: TestDatabase;

beforeAll(async () => {
  database = await testDatabase('inbox');
  await sql`create table effects (event_id uuid not null)`.execute(database.db);
});
afterAll(() => database?.close());

/** What a handler does: claim, then apply its effect in the same transaction. */
async function handle(eventId: string, { fail = false } = {}) {
  return database.db.transaction().execute(async (trx) => {
    if (!(await claimEvent(trx, 'test', eventId))) return 'duplicate';
    await sql`insert into effects values (${eventId})`.execute(trx);
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (fail) throw new Error('crash before commit');
    return 'handled';
  });
}

async function effects(eventId: string) {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from effects where event_id = ${eventId}`.execute(database.db);
  return rows[0]!.n;
}

describe('claimEvent', () => {
  it('lets one of 8 concurrent duplicates commit its effect; the rest see the claim', async () => {
    const eventId = randomUUID();
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => handle(eventId)));
    expect(outcomes.filter((o) => o === 'handled')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(7);
    expect(await effects(eventId)).toBe(1);
  });

  it('releases the claim when the transaction rolls back, so a redelivery handles it', async () => {
    const eventId = randomUUID();
    await expect(handle(eventId, { fail: true })).rejects.toThrow('crash before commit');
    expect(await effects(eventId)).toBe(0);
    expect(await handle(eventId)).toBe('handled');
    expect(await effects(eventId)).toBe(1);
  });

  it('keeps claims per consumer: another consumer handles the same event', async () => {
    const eventId = randomUUID();
    const claim = (consumer: string) =>
      database.db.transaction().execute((trx) => claimEvent(trx, consumer, eventId));
    expect(await claim('a')).toBe(true);
    expect(await claim('b')).toBe(true);
    expect(await claim('a')).toBe(false);
  });
});
