import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type CopyOutcome, createEvent, type EventBus } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { sql } from 'kysely';
import { createOutbox } from './outbox';
import { retryOutboxRow } from './outbox-repair';
import { insertOutboxRows } from './testing';

let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('outbox-repair');
});
afterAll(() => database?.close());

/** The bus port, recording the event ids of what it publishes. */
function recordingBus() {
  const published: string[] = [];
  const bus: EventBus = {
    async publish(copies) {
      return copies.map((copy): CopyOutcome => {
        published.push(copy.event.id);
        return { ...copy, published: true };
      });
    },
  };
  return { bus, published };
}

const confirmed = () =>
  createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 899, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID() },
  );

async function row(id: string) {
  return database.db
    .selectFrom('outbox')
    .select(['producer', 'sent_at', 'next_attempt_at', 'set_aside_at', 'set_aside_reason'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

describe('retryOutboxRow', () => {
  it("releases a set-aside row only once it passes the relay's rule, and the relay then publishes it", async () => {
    const event = confirmed();
    await insertOutboxRows(database.db, [event]);
    // Written without a producer (an older release's instance): the relay sets it aside.
    await sql`update outbox set producer = null, created_at = now() - interval '1 minute'
      where id = ${event.id}::uuid`.execute(database.db);
    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    expect((await outbox.relay({ minAgeMs: 0 })).setAside).toEqual([
      expect.objectContaining({ id: event.id, reason: 'no producer recorded' }),
    ]);

    expect(await retryOutboxRow(database.db, event.id)).toEqual({
      kind: 'still-refused',
      reason: 'no producer recorded',
    });
    expect(await row(event.id)).toMatchObject({ set_aside_reason: 'no producer recorded' });
    // A producer that may not emit it is refused the same way.
    await sql`update outbox set producer = 'payment-handler' where id = ${event.id}::uuid`.execute(
      database.db,
    );
    expect(await retryOutboxRow(database.db, event.id)).toEqual({
      kind: 'still-refused',
      reason: 'payment-handler wrote an event of process-order',
    });
    await outbox.relay({ minAgeMs: 0 });
    expect(recording.published).toEqual([]);

    // The operator checked it is genuine and records its producer: released, then published.
    await sql`update outbox set producer = 'process-order' where id = ${event.id}::uuid`.execute(
      database.db,
    );
    expect(await retryOutboxRow(database.db, event.id)).toEqual({
      kind: 'released',
      was: 'no producer recorded',
    });
    expect(await row(event.id)).toMatchObject({ set_aside_at: null, set_aside_reason: null });
    await outbox.relay({ minAgeMs: 0 });
    expect(recording.published).toEqual([event.id]);
    expect((await row(event.id)).sent_at).not.toBeNull();
    expect(await retryOutboxRow(database.db, event.id)).toEqual({ kind: 'sent' });
  });

  it('makes a row that backs off due at once, and knows no row it does not hold', async () => {
    const event = confirmed();
    await insertOutboxRows(database.db, [event]);
    await sql`update outbox set attempts = 5, last_error = 'analytics: HTTP 403',
      next_attempt_at = now() + interval '5 minutes', created_at = now() - interval '1 minute'
      where id = ${event.id}::uuid`.execute(database.db);
    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    await outbox.relay({ minAgeMs: 0 });
    expect(recording.published).toEqual([]);

    expect(await retryOutboxRow(database.db, event.id)).toEqual({ kind: 'due' });
    expect((await row(event.id)).next_attempt_at).toBeNull();
    await outbox.relay({ minAgeMs: 0 });
    expect(recording.published).toEqual([event.id]);

    expect(await retryOutboxRow(database.db, randomUUID())).toEqual({ kind: 'not-found' });
  });
});
