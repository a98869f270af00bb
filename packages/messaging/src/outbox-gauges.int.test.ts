import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';
import { resendToTopic } from './outbox';
import { readOutboxGauges } from './outbox-gauges';
import { retryOutboxRow } from './outbox-repair';
import { insertOutboxRows } from './testing';

let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('outbox-gauges');
});
afterAll(() => database?.close());
beforeEach(async () => {
  await sql`delete from outbox`.execute(database.db);
});

const day = 86_400;

/** An OrderConfirmed row written `daysAgo` days ago (by the database's clock). */
async function rowWritten(daysAgo: number): Promise<string> {
  const event = createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 899, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID() },
  );
  await insertOutboxRows(database.db, [event]);
  await sql`update outbox set created_at = now() - make_interval(days => ${daysAgo})
    where id = ${event.id}::uuid`.execute(database.db);
  return event.id;
}

const createdAt = async (id: string) =>
  (
    await database.db
      .selectFrom('outbox')
      .select('created_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
  ).created_at;

describe('readOutboxGauges: the age of the oldest unsent row', () => {
  it('is how long the relay has owed a row: two days for a row unsent since it was written', async () => {
    await rowWritten(2);
    const { unsent, oldestUnsentAgeSeconds } = await readOutboxGauges(database.db);
    expect(unsent).toBe(1);
    expect(oldestUnsentAgeSeconds).toBeGreaterThanOrEqual(2 * day);
    expect(oldestUnsentAgeSeconds).toBeLessThan(2 * day + 60);
  });

  it('counts a set-aside row an operator released from its release, not from when it was written; it still shows when it was written', async () => {
    const id = await rowWritten(2);
    await sql`update outbox set set_aside_at = now() - interval '1 day',
      set_aside_reason = 'no producer recorded' where id = ${id}::uuid`.execute(database.db);
    expect(await readOutboxGauges(database.db)).toEqual({
      unsent: 0,
      oldestUnsentAgeSeconds: 0,
      setAside: 1,
    });
    const written = await createdAt(id);

    expect(await retryOutboxRow(database.db, id)).toEqual({
      kind: 'released',
      was: 'no producer recorded',
    });
    const gauges = await readOutboxGauges(database.db);
    expect(gauges).toMatchObject({ unsent: 1, setAside: 0 });
    expect(gauges.oldestUnsentAgeSeconds).toBeLessThan(60);
    expect(await createdAt(id)).toEqual(written);
  });

  it('counts a sent row marked unsent again (a re-drive, a replay) from then, not from when it was written', async () => {
    const id = await rowWritten(2);
    await sql`update outbox set sent_at = now() - interval '1 day' where id = ${id}::uuid`.execute(
      database.db,
    );
    expect(await resendToTopic(database.db, 'analytics', [id])).toEqual([id]);
    const gauges = await readOutboxGauges(database.db);
    expect(gauges.unsent).toBe(1);
    expect(gauges.oldestUnsentAgeSeconds).toBeLessThan(60);
  });

  it('a row backing off keeps the age it has owed since it was written (a retry makes it due, not young)', async () => {
    const id = await rowWritten(2);
    await sql`update outbox set next_attempt_at = now() + interval '5 minutes', attempts = 3
      where id = ${id}::uuid`.execute(database.db);
    expect(await retryOutboxRow(database.db, id)).toEqual({ kind: 'due' });
    expect((await readOutboxGauges(database.db)).oldestUnsentAgeSeconds).toBeGreaterThanOrEqual(
      2 * day,
    );
  });
});
