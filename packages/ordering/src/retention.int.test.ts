import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createDb, type Database } from '@orders/db';
import { createEvent, type DomainEvent } from '@orders/events';
import { queryOnce, type TestDatabase, testDatabase } from '@orders/local-stack';
import { createOutbox, resendToTopic, retryOutboxRow } from '@orders/messaging';
import { insertOutboxRows } from '@orders/messaging/testing';
import { type Kysely, sql } from 'kysely';
import { insertPlacedOrder } from './intake-store';
import { purgeClaims, purgeKeys, purgeRestingSagaHistory, purgeSentOutbox } from './retention';
import { redriveOrder } from './stalled-orders';

/**
 * Retention as housekeeping runs it: every purge here runs as a login user that is a member
 * of the housekeeping role (migrations 0012 and 0014), as on Cloud SQL; the rows are planted
 * by the owner, with their ages set back.
 */
const day = 86_400;
let database: TestDatabase;
let admin: Kysely<Database>;
let housekeeping: Kysely<Database>;
const user = `t_housekeeping_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  database = await testDatabase('retention');
  admin = database.db;
  const password = randomBytes(16).toString('hex');
  await sql`create role ${sql.id(user)} login password ${sql.lit(password)} in role housekeeping`.execute(
    admin,
  );
  const url = new URL(database.url);
  url.username = user;
  url.password = password;
  housekeeping = createDb(url.toString(), { maxConnections: 2 });
});

afterAll(async () => {
  await housekeeping?.destroy();
  await database?.close();
  await queryOnce(process.env.DATABASE_URL!, `drop role if exists "${user}"`);
});

/**
 * Whether `work` settles by itself or comes to wait for a lock another transaction holds
 * (as `pg_stat_activity` shows), whichever is first.
 */
async function blockedOrSettled(work: Promise<unknown>): Promise<'blocked' | 'settled'> {
  let settled = false;
  work.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (settled) return 'settled';
    const { rows } = await sql<{ waiting: number }>`
      select count(*)::int as waiting from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(admin);
    if (rows[0]!.waiting > 0) return 'blocked';
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the work neither settled nor waited for a lock within 10 s');
}

function daysAgo(days: number) {
  return sql<Date>`now() - make_interval(secs => ${days * day})`;
}

describe('purgeClaims', () => {
  it('deletes the claims past the window, oldest first, in batches up to the cap; keeps the rest', async () => {
    const consumer = 'retention-claims';
    const ages = [40, 36, 39, 37, 38, 29, 1];
    const ids: string[] = ages.map(() => randomUUID());
    for (const [index, age] of ages.entries()) {
      await sql`
        insert into processed_events (consumer, event_id, processed_at)
        values (${consumer}, ${ids[index]}::uuid, ${daysAgo(age)})`.execute(admin);
    }
    const left = async () =>
      (
        await admin
          .selectFrom('processed_events')
          .select('event_id')
          .where('consumer', '=', consumer)
          .execute()
      ).map((row) => ages[ids.indexOf(row.event_id)]);

    const window = { olderThanSeconds: 30 * day, batchSize: 2 };
    expect(await purgeClaims(housekeeping, { ...window, maxRows: 3 })).toEqual({
      deleted: 3,
      capped: true,
    });
    expect((await left()).sort()).toEqual([1, 29, 36, 37]);
    expect(await purgeClaims(housekeeping, { ...window, maxRows: 3 })).toEqual({
      deleted: 2,
      capped: false,
    });
    expect((await left()).sort()).toEqual([1, 29]);
    expect(await purgeClaims(housekeeping, { ...window, maxRows: 3 })).toEqual({
      deleted: 0,
      capped: false,
    });
  });
});

/** An OrderConfirmed row, as process-order writes it, then sent (or not) `sentDaysAgo`. */
async function outboxRow({
  sentDaysAgo,
  setAsideDaysAgo,
  createdDaysAgo = Math.max(sentDaysAgo ?? 0, setAsideDaysAgo ?? 0),
}: {
  sentDaysAgo?: number;
  setAsideDaysAgo?: number;
  createdDaysAgo?: number;
}) {
  const event = createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID() },
  );
  await insertOutboxRows(admin, [event]);
  await sql`
    update outbox set
      created_at = ${daysAgo(createdDaysAgo)},
      sent_at = ${sentDaysAgo === undefined ? null : daysAgo(sentDaysAgo)},
      set_aside_at = ${setAsideDaysAgo === undefined ? null : daysAgo(setAsideDaysAgo)},
      set_aside_reason = ${setAsideDaysAgo === undefined ? null : 'planted'}
    where id = ${event.id}::uuid`.execute(admin);
  return event.id;
}

async function outboxRows(ids: string[]) {
  return admin
    .selectFrom('outbox')
    .select(['id', 'sent_at', 'published_topics'])
    .where('id', 'in', ids)
    .execute();
}

/** An order placed 60 days ago whose OrderPlaced was sent but never reached a saga. */
async function stalledOrder(): Promise<DomainEvent<'OrderPlaced'>> {
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId: 'cust-retention',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
      totalMinor: 1299,
    },
    { source: 'place-order', correlationId: randomUUID() },
  ) as DomainEvent<'OrderPlaced'>;
  await insertPlacedOrder(admin, placed);
  await sql`
    update outbox set created_at = ${daysAgo(60)}, sent_at = ${daysAgo(60)},
      published_topics = '{}'
    where id = ${placed.id}::uuid`.execute(admin);
  await sql`update orders set created_at = ${daysAgo(60)} where id = ${placed.data.orderId}::uuid`.execute(
    admin,
  );
  return placed;
}

const week = { olderThanSeconds: 7 * day, batchSize: 10, maxRows: 1_000 };

describe('purgeSentOutbox', () => {
  it('deletes rows sent before the window; never a row unsent, set aside or sent within it', async () => {
    const sentLongAgo = await outboxRow({ sentDaysAgo: 8 });
    const sentYesterday = await outboxRow({ sentDaysAgo: 1, createdDaysAgo: 9 });
    const neverSent = await outboxRow({ createdDaysAgo: 30 });
    const setAside = await outboxRow({ setAsideDaysAgo: 30 });

    expect(await purgeSentOutbox(housekeeping, week)).toEqual({ deleted: 1, capped: false });
    expect((await outboxRows([sentLongAgo, sentYesterday, neverSent, setAside])).length).toBe(3);
    expect(await outboxRows([sentLongAgo])).toEqual([]);
  });

  it("housekeeping's role cannot delete a row the relay still owes, or one set aside, whatever it asks", async () => {
    const neverSent = await outboxRow({ createdDaysAgo: 30 });
    const setAside = await outboxRow({ setAsideDaysAgo: 30 });
    const sent = await outboxRow({ sentDaysAgo: 1 });
    const deleted = await sql`
      delete from outbox where id = any(${[neverSent, setAside]}::uuid[])`.execute(housekeeping);
    expect(deleted.numAffectedRows).toBe(0n);
    expect((await outboxRows([neverSent, setAside])).length).toBe(2);
    // The privilege itself is there: a sent row goes.
    const sentDeleted = await sql`delete from outbox where id = ${sent}::uuid`.execute(
      housekeeping,
    );
    expect(sentDeleted.numAffectedRows).toBe(1n);
  });

  // As housekeeping, its role's row security holds this too; as the owner, only the purge.
  it.each([['housekeeping'], ['the owner']])(
    'leaves a row that is marked unsent while it waits for it (the relay publishes it), as %s',
    async (who) => {
      const runner = who === 'housekeeping' ? housekeeping : admin;
      const row = await outboxRow({ sentDaysAgo: 8 });
      let purged: Promise<unknown> | undefined;
      await admin.transaction().execute(async (trx) => {
        expect(await resendToTopic(trx, 'analytics', [row])).toEqual([row]);
        purged = purgeSentOutbox(runner, week);
        // The purge waits for this transaction's lock on the row.
        expect(await blockedOrSettled(purged)).toBe('blocked');
      });
      expect(await purged).toEqual({ deleted: 0, capped: false });
      expect(await outboxRows([row])).toEqual([{ id: row, sent_at: null, published_topics: [] }]);
    },
  );

  it("keeps a stalled order's OrderPlaced, however old, until the order has its saga: its re-drive still publishes it", async () => {
    const placed = await stalledOrder();

    expect(await purgeSentOutbox(housekeeping, week)).toEqual({ deleted: 0, capped: false });
    const redriven = await redriveOrder(housekeeping, placed.data.orderId);
    expect(redriven).toEqual({ eventId: placed.id, redrives: 1 });
    expect(await outboxRows([placed.id])).toEqual([
      { id: placed.id, sent_at: null, published_topics: ['analytics'] },
    ]);

    // Published again (as the relay marks it), and its saga now exists: it may go.
    await sql`
      update outbox set sent_at = ${daysAgo(8)}, published_topics = '{}'
      where id = ${placed.id}::uuid`.execute(admin);
    await insertSaga({ id: placed.data.orderId, status: 'RESERVING_STOCK', updatedDaysAgo: 8 });
    expect(await purgeSentOutbox(housekeeping, week)).toEqual({ deleted: 1, capped: false });
    expect(await outboxRows([placed.id])).toEqual([]);
  });

  it('deletes no row the relay could still publish, whatever its age: after the purge (window 0, as the owner: no row security), the relay publishes every one of them and nothing purged', async () => {
    await sql`delete from outbox`.execute(admin);
    const stalled = stalledOrder();
    const purged = [await outboxRow({ sentDaysAgo: 8 }), await outboxRow({ sentDaysAgo: 0 })];
    const owed = {
      unsent: await outboxRow({ createdDaysAgo: 30 }),
      backingOff: await outboxRow({ createdDaysAgo: 30 }),
      setAside: await outboxRow({ setAsideDaysAgo: 30 }),
      stalledOrderPlaced: (await stalled).id,
    };
    await sql`update outbox set attempts = 4, next_attempt_at = now() + interval '1 hour'
      where id = ${owed.backingOff}::uuid`.execute(admin);
    // A set-aside row's producer was recorded wrong: an operator fixes it, then releases it.
    await sql`update outbox set producer = 'payment-handler'
      where id = ${owed.setAside}::uuid`.execute(admin);

    expect(await purgeSentOutbox(admin, { ...week, olderThanSeconds: 0 })).toEqual({
      deleted: purged.length,
      capped: false,
    });

    await sql`update outbox set producer = 'process-order' where id = ${owed.setAside}::uuid`.execute(
      admin,
    );
    expect(await retryOutboxRow(admin, owed.setAside)).toMatchObject({ kind: 'released' });
    expect(await retryOutboxRow(admin, owed.backingOff)).toEqual({ kind: 'due' });
    expect(await redriveOrder(admin, (await stalled).data.orderId)).toMatchObject({
      redrives: 1,
    });
    const published: string[] = [];
    const relay = createOutbox(admin, {
      publish: async (copies) =>
        copies.map((copy) => {
          published.push(copy.event.id);
          return { ...copy, published: true };
        }),
    });
    expect(await relay.relay({ minAgeMs: 0 })).toMatchObject({ sent: 4, setAside: [] });
    expect([...new Set(published)].sort()).toEqual(Object.values(owed).sort());
    expect(await outboxRows(purged)).toEqual([]);
  });
});

/** A saga row with a history of `transitions` moves, the last `updatedDaysAgo`. */
async function insertSaga({
  id = randomUUID(),
  status,
  updatedDaysAgo,
  deadline = false,
  transitions = 0,
}: {
  id?: string;
  status: string;
  updatedDaysAgo: number;
  deadline?: boolean;
  transitions?: number;
}) {
  await sql`
    insert into sagas (id, type, status, version, state, deadline_at, correlation_id,
      created_at, updated_at)
    values (${id}::uuid, 'order', ${status}, ${Math.max(transitions, 1)}, '{}',
      ${deadline ? sql`now() + interval '1 minute'` : null}, gen_random_uuid(),
      ${daysAgo(updatedDaysAgo + 1)}, ${daysAgo(updatedDaysAgo)})`.execute(admin);
  for (let version = 1; version <= transitions; version++) {
    await sql`
      insert into saga_transitions (saga_id, version, from_status, to_status, cause_type, at)
      values (${id}::uuid, ${version}, null, ${status}, 'Test',
        ${daysAgo(updatedDaysAgo + (transitions - version) / 24)})`.execute(admin);
  }
  return id;
}

async function historyOf(ids: string[]) {
  const rows = await admin
    .selectFrom('saga_transitions')
    .select(['saga_id', sql<number>`count(*)::int`.as('moves')])
    .where('saga_id', 'in', ids)
    .groupBy('saga_id')
    .execute();
  return Object.fromEntries(ids.map((id) => [id, rows.find((r) => r.saga_id === id)?.moves ?? 0]));
}

describe('purgeRestingSagaHistory', () => {
  it('keeps the history of a saga that a late result moves while the purge runs (it waits for the move, then sees a refund deadline)', async () => {
    const saga = await insertSaga({ status: 'CANCELLED', updatedDaysAgo: 100, transitions: 3 });
    let purged: Promise<unknown> | undefined;
    await admin.transaction().execute(async (trx) => {
      // A late PaymentSucceeded: CANCELLED -> CANCELLED, now waiting for its refund.
      await sql`update sagas set deadline_at = now() + interval '1 hour', updated_at = now(),
        version = version + 1 where id = ${saga}::uuid`.execute(trx);
      await sql`insert into saga_transitions (saga_id, version, from_status, to_status, cause_type, at)
        values (${saga}::uuid, 4, 'CANCELLED', 'CANCELLED', 'PaymentSucceeded', now())`.execute(
        trx,
      );
      purged = purgeRestingSagaHistory(housekeeping, {
        olderThanSeconds: 90 * day,
        batchSize: 100,
        maxRows: 10_000,
      });
      expect(await blockedOrSettled(purged)).toBe('blocked');
    });
    await purged;
    expect(await historyOf([saga])).toEqual({ [saga]: 4 });
  });

  it('deletes the history of sagas at rest since before the window, and only theirs; every saga row stays', async () => {
    const sagas = {
      confirmedLongAgo: await insertSaga({
        status: 'CONFIRMED',
        updatedDaysAgo: 100,
        transitions: 4,
      }),
      cancelledLongAgo: await insertSaga({
        status: 'CANCELLED',
        updatedDaysAgo: 95,
        transitions: 3,
      }),
      confirmedLately: await insertSaga({
        status: 'CONFIRMED',
        updatedDaysAgo: 80,
        transitions: 4,
      }),
      waitingForItsRefund: await insertSaga({
        status: 'CANCELLED',
        updatedDaysAgo: 100,
        deadline: true,
        transitions: 3,
      }),
      parked: await insertSaga({ status: 'NEEDS_ATTENTION', updatedDaysAgo: 200, transitions: 5 }),
      awaitingPayment: await insertSaga({
        status: 'AWAITING_PAYMENT',
        updatedDaysAgo: 120,
        transitions: 2,
      }),
    };
    const ids = Object.values(sagas);
    const window = { olderThanSeconds: 90 * day, batchSize: 2 };

    expect(await purgeRestingSagaHistory(housekeeping, { ...window, maxRows: 5 })).toEqual({
      deleted: 5,
      capped: true,
    });
    expect(await purgeRestingSagaHistory(housekeeping, { ...window, maxRows: 5 })).toEqual({
      deleted: 2,
      capped: false,
    });
    const history = await historyOf(ids);
    expect(history).toEqual({
      [sagas.confirmedLongAgo]: 0,
      [sagas.cancelledLongAgo]: 0,
      [sagas.confirmedLately]: 4,
      [sagas.waitingForItsRefund]: 3,
      [sagas.parked]: 5,
      [sagas.awaitingPayment]: 2,
    });
    const kept = await admin.selectFrom('sagas').select('id').where('id', 'in', ids).execute();
    expect(kept.length).toBe(ids.length);
  });
  /**
   * Plants `parked` parked sagas (5 moves each, older than any history that may go), one
   * saga awaiting payment, `bare` sagas at rest whose history earlier ticks deleted, and 4
   * sagas at rest with 3 moves each that may go; purges in batches of 2, and counts the
   * tuples of sagas and saga_transitions the purge read (its own transaction's statistics).
   */
  async function purgeAmong({ parked, bare }: { parked: number; bare: number }) {
    await sql`delete from saga_transitions`.execute(admin);
    await sql`delete from sagas`.execute(admin);
    const kept = [];
    for (let n = 0; n < parked; n++) {
      kept.push(
        await insertSaga({ status: 'NEEDS_ATTENTION', updatedDaysAgo: 300, transitions: 5 }),
      );
    }
    kept.push(
      await insertSaga({ status: 'AWAITING_PAYMENT', updatedDaysAgo: 250, transitions: 2 }),
    );
    for (let n = 0; n < bare; n++) await insertSaga({ status: 'CONFIRMED', updatedDaysAgo: 200 });
    const resting = [];
    for (let n = 0; n < 4; n++) {
      resting.push(await insertSaga({ status: 'CONFIRMED', updatedDaysAgo: 100, transitions: 3 }));
    }
    // As autovacuum keeps them: statistics (else the planner takes the tables for empty).
    await sql`vacuum analyze sagas, saga_transitions`.execute(admin);
    const { purge, read } = await housekeeping.transaction().execute(async (trx) => {
      // The tables are small here: the planner would scan them whole, as it never does at scale.
      await sql`set local enable_seqscan = off`.execute(trx);
      const purge = await purgeRestingSagaHistory(trx, {
        olderThanSeconds: 90 * day,
        batchSize: 2,
        maxRows: 1_000,
      });
      const { rows } = await sql<{ read: number }>`
        select sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int as read
        from pg_stat_xact_user_tables where relname in ('sagas', 'saga_transitions')`.execute(trx);
      return { purge, read: rows[0]?.read ?? 0 };
    });
    const history = await historyOf([...kept, ...resting]);
    return {
      purge,
      read,
      keptMoves: kept.reduce((sum, id) => sum + history[id]!, 0),
      restingMoves: resting.reduce((sum, id) => sum + history[id]!, 0),
    };
  }

  it('makes progress with every batch at the same cost however many old moves it keeps come first, and however many sagas have no history left', async () => {
    const few = await purgeAmong({ parked: 1, bare: 0 });
    const many = await purgeAmong({ parked: 20, bare: 60 });
    for (const run of [few, many]) {
      expect(run.purge).toEqual({ deleted: 12, capped: false });
      expect(run.restingMoves).toBe(0);
    }
    expect(few.keptMoves).toBe(5 + 2);
    expect(many.keptMoves).toBe(100 + 2);
    // 95 more moves kept and 60 more sagas with no history cost less than reading them once
    // (planning on larger statistics); a batch that walked past them would read them again
    // in every one of the 7 batches, near a thousand more.
    expect(many.read - few.read).toBeLessThan(95 + 60);
  });
});

describe('purgeKeys', () => {
  it('deletes expired Idempotency-Keys in batches, and no live one', async () => {
    const insertKey = (key: string, expires: ReturnType<typeof sql>) =>
      sql`
        insert into idempotency_keys (scope, key, fingerprint, status, response, expires_at)
        values ('retention', ${key}, 'f', 'completed', '{}', ${expires})`.execute(admin);
    for (const key of ['a', 'b', 'c']) await insertKey(key, sql`now() - interval '1 second'`);
    await insertKey('live', sql`now() + interval '1 hour'`);

    expect(await purgeKeys(housekeeping, { batchSize: 2, maxRows: 10 })).toEqual({
      deleted: 3,
      capped: false,
    });
    const left = await admin
      .selectFrom('idempotency_keys')
      .select('key')
      .where('scope', '=', 'retention')
      .execute();
    expect(left).toEqual([{ key: 'live' }]);
  });
});
