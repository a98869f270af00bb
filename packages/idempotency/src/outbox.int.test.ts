import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type Envelope, type EventBus } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';
import { createOutbox } from './outbox';

let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('outbox');
});
afterAll(() => database?.close());

/** The bus is a port: this one records what it was asked to publish, or fails on demand. */
function recordingBus({ failing = false, delayMs = 0 } = {}) {
  const published: string[] = [];
  const bus: EventBus = {
    async publish(events: readonly Envelope[]) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (failing) throw new Error('Pub/Sub unavailable');
      published.push(...events.map((event) => event.id));
    },
  };
  return { bus, published };
}

function confirmed() {
  return createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
    { source: 'test', correlationId: randomUUID() },
  );
}

async function unsent() {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from outbox where sent_at is null`.execute(database.db);
  return rows[0]!.n;
}

describe('createOutbox', () => {
  it('publishes committed events and marks them sent', async () => {
    const { bus, published } = recordingBus();
    const outbox = createOutbox(database.db, bus);
    const events = [confirmed(), confirmed()];
    await database.db.transaction().execute((trx) => outbox.write(trx, events));
    expect(await outbox.publishCommitted(events)).toBe(true);
    expect(published).toEqual(events.map((event) => event.id));
    expect(await unsent()).toBe(0);
  });

  it('marks the rows of concurrent publishes sent, each caller once its own rows are', async () => {
    const { bus, published } = recordingBus({ delayMs: 5 });
    const outbox = createOutbox(database.db, bus);
    const batches = Array.from({ length: 40 }, () => [confirmed()]);
    await database.db.transaction().execute((trx) => outbox.write(trx, batches.flat()));
    const results = await Promise.all(
      batches.map(async (events) => {
        const ok = await outbox.publishCommitted(events);
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from outbox
          where id = ${events[0]!.id} and sent_at is not null`.execute(database.db);
        return { ok, marked: rows[0]!.n };
      }),
    );
    expect(results).toEqual(batches.map(() => ({ ok: true, marked: 1 })));
    expect(published.sort()).toEqual(
      batches
        .flat()
        .map((event) => event.id)
        .sort(),
    );
    expect(await unsent()).toBe(0);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const outbox = createOutbox(database.db, recordingBus().bus);
    const event = confirmed();
    await expect(
      database.db.transaction().execute(async (trx) => {
        await outbox.write(trx, [event]);
        throw new Error('business write failed');
      }),
    ).rejects.toThrow();
    expect(
      await database.db.selectFrom('outbox').select('id').where('id', '=', event.id).execute(),
    ).toEqual([]);
  });

  it('leaves rows unsent when publishing fails, and the relay publishes them later, once', async () => {
    const errors: unknown[] = [];
    const broken = createOutbox(database.db, recordingBus({ failing: true }).bus, (error) =>
      errors.push(error),
    );
    const events = Array.from({ length: 5 }, confirmed);
    await database.db.transaction().execute((trx) => broken.write(trx, events));
    expect(await broken.publishCommitted(events)).toBe(false);
    expect(errors).toHaveLength(1);
    expect(await unsent()).toBe(5);

    const { bus, published } = recordingBus();
    const outbox = createOutbox(database.db, bus);
    expect(await outbox.relay({ minAgeMs: 60_000 })).toBe(0); // too young: their writer may still publish
    expect(await outbox.relay({ minAgeMs: 0 })).toBe(5);
    expect(published.sort()).toEqual(events.map((event) => event.id).sort());
    expect(await outbox.relay({ minAgeMs: 0 })).toBe(0);
    expect(await unsent()).toBe(0);
  });

  it("counts a row's age from its insert, not from the BEGIN of a long writer transaction", async () => {
    // A writer that holds its transaction longer than the minimum age (payment-handler holds
    // one across a provider call), then inserts its outbox row and commits.
    const minAgeMs = 1_000;
    const event = confirmed();
    const writer = createOutbox(database.db, recordingBus().bus);
    await database.db.transaction().execute(async (trx) => {
      await sleep(minAgeMs + 500);
      await writer.write(trx, [event]);
    });

    const { bus, published } = recordingBus();
    const outbox = createOutbox(database.db, bus);
    expect(await outbox.relay({ minAgeMs })).toBe(0); // just committed: its writer publishes it
    expect(published).toEqual([]);
    await sleep(minAgeMs);
    expect(await outbox.relay({ minAgeMs })).toBe(1);
    expect(published).toEqual([event.id]);
  });

  it('is safe to relay concurrently: every row is published exactly once', async () => {
    const events = Array.from({ length: 40 }, confirmed);
    const writer = createOutbox(database.db, recordingBus().bus);
    await database.db.transaction().execute((trx) => writer.write(trx, events));

    const relays = Array.from({ length: 4 }, () => recordingBus({ delayMs: 20 }));
    const counts = await Promise.all(
      relays.map(({ bus }) => createOutbox(database.db, bus).relay({ batchSize: 5, minAgeMs: 0 })),
    );
    const published = relays.flatMap((relay) => relay.published);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    expect(published).toHaveLength(40);
    expect(new Set(published).size).toBe(40);
    expect(await unsent()).toBe(0);
  });
});
