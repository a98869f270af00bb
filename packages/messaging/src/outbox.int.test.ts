import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  type CopyOutcome,
  createEvent,
  type EventBus,
  type EventCopy,
  type TopicName,
} from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { childSpan, formatTraceparent } from '@orders/platform';
import { sql } from 'kysely';
import { createOutbox } from './outbox';
import type { Publisher } from './publisher';
import { createPubSubBus } from './pubsub-bus';
import { insertOutboxRows } from './testing';
import { runInTrace, traceparentAttribute } from './trace-context';

let database: TestDatabase;
beforeAll(async () => {
  database = await testDatabase('outbox');
});
afterAll(() => database?.close());

/**
 * The bus is a port: this one records each copy it publishes (`<topic> <event id>`), and
 * refuses the copies to the topics it is told to refuse, as Pub/Sub refuses a publish (403).
 */
function recordingBus({ refusing = [] as TopicName[], delayMs = 0 } = {}) {
  const copies: string[] = [];
  /** The copies asked of each call. */
  const calls: EventCopy[][] = [];
  const refused = new Set<TopicName>(refusing);
  const bus: EventBus = {
    async publish(asked) {
      calls.push([...asked]);
      await sleep(delayMs);
      return asked.map((copy): CopyOutcome => {
        if (refused.has(copy.topic)) {
          return { ...copy, published: false, error: refusal(copy.topic) };
        }
        copies.push(`${copy.topic} ${copy.event.id}`);
        return { ...copy, published: true };
      });
    },
  };
  return {
    bus,
    copies,
    calls,
    /** The event ids of the copies published: one per event for events of one route. */
    get published() {
      return copies.map((copy) => copy.split(' ')[1]!);
    },
    accept: (topic: TopicName) => refused.delete(topic),
  };
}

/** What the REST publisher rejects a refused call with: an error carrying the HTTP status. */
function refusal(topic: string) {
  return Object.assign(new Error(`publish to ${topic} failed: HTTP 403 PERMISSION_DENIED`), {
    status: 403,
  });
}

// Both events below are the order saga's: process-order is their producer and source.
const origin = () => ({ source: 'process-order', correlationId: randomUUID() });

/** Routed to analytics only. */
function confirmed() {
  return createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 100, currency: 'EUR' },
    origin(),
  );
}

/** Routed to payments and analytics. */
function requested() {
  const orderId = randomUUID();
  return createEvent(
    'PaymentRequested',
    { orderId, paymentId: `pay_${orderId}`, customerId: 'c', amountMinor: 100, currency: 'EUR' },
    origin(),
  );
}

async function unsent() {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from outbox where sent_at is null`.execute(database.db);
  return rows[0]!.n;
}

/** The relay's record of a row; `retryInS` is how far its next attempt is from now. */
async function relayRecord(id: string) {
  const { rows } = await sql<{
    sent: boolean;
    publishedTopics: string[];
    attempts: number;
    lastError: string | null;
    retryInS: number | null;
    setAsideReason: string | null;
  }>`
    select sent_at is not null as sent, published_topics as "publishedTopics", attempts,
      last_error as "lastError", set_aside_reason as "setAsideReason",
      round(extract(epoch from next_attempt_at - clock_timestamp()), 1)::float8 as "retryInS"
    from outbox where id = ${id}::uuid`.execute(database.db);
  return rows[0]!;
}

/** Inserts raw outbox rows, as a buggy writer might have left them (producer process-order). */
async function insertRaw(rows: { id: string; event: unknown }[]) {
  await database.db
    .insertInto('outbox')
    .values(
      rows.map((row) => ({
        id: row.id,
        event: JSON.stringify(row.event),
        producer: 'process-order',
      })),
    )
    .execute();
}

describe('createOutbox', () => {
  it('publishes committed events and marks them sent', async () => {
    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    const events = [confirmed(), confirmed()];
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, events));
    expect(await outbox.publishCommitted(events)).toBe(true);
    expect(recording.published).toEqual(events.map((event) => event.id));
    expect(await unsent()).toBe(0);
  });

  it('marks the rows of concurrent publishes sent, each caller once its own rows are', async () => {
    const recording = recordingBus({ delayMs: 5 });
    const outbox = createOutbox(database.db, recording.bus);
    const batches = Array.from({ length: 40 }, () => [confirmed()]);
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, batches.flat()));
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
    expect(recording.published.sort()).toEqual(
      batches
        .flat()
        .map((event) => event.id)
        .sort(),
    );
    expect(await unsent()).toBe(0);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    const event = confirmed();
    await expect(
      database.db.transaction().execute(async (trx) => {
        await insertOutboxRows(trx, [event]);
        throw new Error('business write failed');
      }),
    ).rejects.toThrow();
    expect(
      await database.db.selectFrom('outbox').select('id').where('id', '=', event.id).execute(),
    ).toEqual([]);
    // The relay finds nothing of it to publish.
    await outbox.relay({ minAgeMs: 0 });
    expect(recording.published).not.toContain(event.id);
  });

  it('leaves rows unsent when publishing fails, and the relay publishes them later, once', async () => {
    const errors: { error: unknown; events: number; topic: string | undefined }[] = [];
    const broken = createOutbox(
      database.db,
      recordingBus({ refusing: ['analytics'] }).bus,
      (error, events, topic) => errors.push({ error, events: events.length, topic }),
    );
    const events = Array.from({ length: 5 }, confirmed);
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, events));
    expect(await broken.publishCommitted(events)).toBe(false);
    expect(errors).toEqual([{ error: expect.any(Error), events: 5, topic: 'analytics' }]);
    expect(await unsent()).toBe(5);

    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    // Too young: their writer may still publish them.
    expect(await outbox.relay({ minAgeMs: 60_000 })).toMatchObject({ sent: 0, copies: 0 });
    expect(await outbox.relay({ minAgeMs: 0 })).toMatchObject({ sent: 5, copies: 5 });
    expect(recording.published.sort()).toEqual(events.map((event) => event.id).sort());
    expect(await outbox.relay({ minAgeMs: 0 })).toMatchObject({ sent: 0, copies: 0 });
    expect(await unsent()).toBe(0);
  });

  it('marks the routes that took an event when another refused it; the relay publishes the rest only', async () => {
    const errors: (string | undefined)[] = [];
    const writerBus = recordingBus({ refusing: ['payments'] });
    const writer = createOutbox(database.db, writerBus.bus, (_error, _events, topic) =>
      errors.push(topic),
    );
    const event = requested();
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, [event]));
    expect(await writer.publishCommitted([event])).toBe(false);
    expect(errors).toEqual(['payments']);
    expect(writerBus.copies).toEqual([`analytics ${event.id}`]);
    expect(await relayRecord(event.id)).toMatchObject({
      sent: false,
      publishedTopics: ['analytics'],
    });

    const relayBus = recordingBus();
    const report = await createOutbox(database.db, relayBus.bus).relay({ minAgeMs: 0 });
    expect(report).toMatchObject({ sent: 1, copies: 1, deferred: 0 });
    expect(relayBus.copies).toEqual([`payments ${event.id}`]);
    expect(await relayRecord(event.id)).toMatchObject({ sent: true });
  });

  it("counts a row's age from its insert, not from the BEGIN of a long writer transaction", async () => {
    // A writer that holds its transaction longer than the minimum age (payment-handler holds
    // one across a provider call), then inserts its outbox row and commits.
    const minAgeMs = 1_000;
    const event = confirmed();
    await database.db.transaction().execute(async (trx) => {
      await sleep(minAgeMs + 500);
      await insertOutboxRows(trx, [event]);
    });

    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    // Just committed: its writer publishes it.
    expect(await outbox.relay({ minAgeMs })).toMatchObject({ sent: 0 });
    expect(recording.published).toEqual([]);
    await sleep(minAgeMs);
    expect(await outbox.relay({ minAgeMs })).toMatchObject({ sent: 1 });
    expect(recording.published).toEqual([event.id]);
  });

  it('is safe to relay concurrently: every row is published exactly once', async () => {
    const events = Array.from({ length: 40 }, confirmed);
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, events));

    const relays = Array.from({ length: 4 }, () => recordingBus({ delayMs: 20 }));
    const reports = await Promise.all(
      relays.map(({ bus }) => createOutbox(database.db, bus).relay({ batchSize: 5, minAgeMs: 0 })),
    );
    const published = relays.flatMap((relay) => relay.published);
    expect(reports.reduce((sum, report) => sum + report.sent, 0)).toBe(40);
    expect(published).toHaveLength(40);
    expect(new Set(published).size).toBe(40);
    expect(await unsent()).toBe(0);
  });
});

describe('the relay', () => {
  // Each test starts from an outbox of its own rows only.
  beforeEach(async () => {
    await database.db.deleteFrom('outbox').execute();
  });

  it('publishes each copy on its own: a refused route holds back its own copies, once per run, and the rows behind go on', async () => {
    const waiting = [requested(), requested(), requested()];
    const behind = [confirmed(), confirmed()];
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, waiting));
    await database.db.transaction().execute((trx) => insertOutboxRows(trx, behind));

    const recording = recordingBus({ refusing: ['payments'] });
    const outbox = createOutbox(database.db, recording.bus);
    const report = await outbox.relay({ minAgeMs: 0 });
    expect(report).toEqual({
      sent: 2,
      copies: 5,
      deferred: 3,
      failingRoutes: [
        { topic: 'payments', status: 403, error: expect.stringContaining('HTTP 403'), waiting: 3 },
      ],
      setAside: [],
    });
    // One probe of the refused topic in the run; every healthy copy, once.
    const asked = recording.calls.flat();
    expect(asked.filter((copy) => copy.topic === 'payments')).toHaveLength(1);
    expect(recording.copies.sort()).toEqual(
      [...waiting, ...behind].map((event) => `analytics ${event.id}`).sort(),
    );
    for (const event of waiting) {
      expect(await relayRecord(event.id)).toMatchObject({
        sent: false,
        publishedTopics: ['analytics'],
        attempts: 1,
        lastError: expect.stringContaining('payments'),
      });
    }
    for (const event of behind) expect(await relayRecord(event.id)).toMatchObject({ sent: true });

    // Backing off: the next run leaves them alone, and publishes nothing again.
    expect(await outbox.relay({ minAgeMs: 0 })).toMatchObject({ sent: 0, copies: 0, deferred: 0 });

    // The topic accepts again: each waiting row goes to it, and only to it, once its wait is over.
    recording.accept('payments');
    const deadline = Date.now() + 10_000;
    while ((await unsent()) > 0 && Date.now() < deadline) {
      await outbox.relay({ minAgeMs: 0 });
      await sleep(200);
    }
    expect(await unsent()).toBe(0);
    expect(recording.copies.sort()).toEqual(
      [
        ...[...waiting, ...behind].map((event) => `analytics ${event.id}`),
        ...waiting.map((event) => `payments ${event.id}`),
      ].sort(),
    );
  });

  it('backs off per row: its next attempt after min(2^attempts s, the longest wait)', async () => {
    const event = requested();
    await insertOutboxRows(database.db, [event]);
    const outbox = createOutbox(database.db, recordingBus({ refusing: ['payments'] }).bus);
    const relay = () => outbox.relay({ minAgeMs: 0, maxBackoffMs: 5_000 });
    /** As if its wait were over: the relay takes it at once. */
    const waitOver = () =>
      database.db
        .updateTable('outbox')
        .set({ next_attempt_at: new Date(0) })
        .where('id', '=', event.id)
        .execute();

    const attempts: { attempts: number; retryInS: number }[] = [];
    for (let i = 0; i < 4; i++) {
      expect(await relay()).toMatchObject({ deferred: 1 });
      const { attempts: n, retryInS } = await relayRecord(event.id);
      attempts.push({ attempts: n, retryInS: Math.round(retryInS ?? Number.NaN) });
      // Waiting: another run does not touch it.
      expect(await relay()).toMatchObject({ deferred: 0, copies: 0 });
      await waitOver();
    }
    expect(attempts).toEqual([
      { attempts: 1, retryInS: 2 },
      { attempts: 2, retryInS: 4 },
      { attempts: 3, retryInS: 5 },
      { attempts: 4, retryInS: 5 },
    ]);
  });

  it('backs off a row refused a thousand times and more to the longest wait, and the rows behind it go on', async () => {
    const stuck = requested();
    const behind = confirmed();
    await insertOutboxRows(database.db, [stuck, behind]);
    // A topic deleted for days: 2^1100 seconds is past what a double holds.
    await database.db
      .updateTable('outbox')
      .set({ attempts: 1_100, next_attempt_at: new Date(0) })
      .where('id', '=', stuck.id)
      .execute();
    const outbox = createOutbox(database.db, recordingBus({ refusing: ['payments'] }).bus);

    expect(await outbox.relay({ minAgeMs: 0, maxBackoffMs: 300_000 })).toMatchObject({
      deferred: 1,
      sent: 1,
    });
    const { attempts, retryInS } = await relayRecord(stuck.id);
    expect({ attempts, retryInS: Math.round(retryInS ?? Number.NaN) }).toEqual({
      attempts: 1_101,
      retryInS: 300,
    });
    expect((await relayRecord(behind.id)).sent).toBe(true);
  });

  it('handles at most maxRows rows per run, oldest first, in batches', async () => {
    const events = Array.from({ length: 25 }, confirmed);
    for (const event of events) await insertOutboxRows(database.db, [event]);

    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    const run = () => outbox.relay({ minAgeMs: 0, maxRows: 10, batchSize: 4 });
    expect(await run()).toMatchObject({ sent: 10 });
    // Never more than a batch at once (the first copy of a run goes alone: a probe).
    const sizes = recording.calls.map((copies) => copies.length);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect(recording.published).toEqual(events.slice(0, 10).map((event) => event.id));
    expect(await run()).toMatchObject({ sent: 10 });
    expect(await run()).toMatchObject({ sent: 5 });
    expect(recording.published).toEqual(events.map((event) => event.id));
  });

  it('sets aside a row it can never publish (an unknown type, an invalid envelope), reports it, and goes on', async () => {
    const teleported = { ...confirmed(), id: randomUUID(), type: 'OrderTeleported' };
    const { correlationId: _dropped, ...invalid } = confirmed();
    const good = confirmed();
    await insertRaw([
      { id: teleported.id, event: teleported },
      { id: invalid.id, event: invalid },
    ]);
    await insertOutboxRows(database.db, [good]);

    const recording = recordingBus();
    const outbox = createOutbox(database.db, recording.bus);
    const report = await outbox.relay({ minAgeMs: 0 });
    expect(report).toMatchObject({ sent: 1, copies: 1, deferred: 0, failingRoutes: [] });
    expect(report.setAside).toEqual([
      {
        id: teleported.id,
        producer: 'process-order',
        type: 'OrderTeleported',
        correlationId: teleported.correlationId,
        reason: 'unknown event type OrderTeleported',
      },
      {
        id: invalid.id,
        producer: 'process-order',
        type: 'OrderConfirmed',
        reason: expect.stringMatching(/^invalid envelope: .*correlationId/),
      },
    ]);
    expect(recording.published).toEqual([good.id]);
    expect(await relayRecord(teleported.id)).toMatchObject({
      sent: false,
      setAsideReason: 'unknown event type OrderTeleported',
    });
    expect(await relayRecord(invalid.id)).toMatchObject({
      sent: false,
      setAsideReason: expect.stringMatching(/^invalid envelope/),
    });

    // Set aside for good: no later run takes them again.
    expect(await outbox.relay({ minAgeMs: 0 })).toEqual({
      sent: 0,
      copies: 0,
      deferred: 0,
      failingRoutes: [],
      setAside: [],
    });
  });
});

describe('the trace context of each row', () => {
  /** The Pub/Sub publisher is the port here: it records each message's trace attribute. */
  function tracingBus() {
    const sent: { topic: string; eventId: string; traceparent: string | undefined }[] = [];
    const publisher: Publisher = {
      async publish(topic, message) {
        sent.push({
          topic,
          eventId: message.attributes.event_id!,
          traceparent: message.attributes[traceparentAttribute],
        });
      },
    };
    return { bus: createPubSubBus(publisher), sent };
  }
  const writer = childSpan(undefined, true);
  const housekeeping = childSpan(undefined, true);
  beforeEach(async () => {
    await database.db.deleteFrom('outbox').execute();
  });

  it('is what the writer’s work ran in, published after commit and by the relay alike', async () => {
    const afterCommit = confirmed();
    const relayed = confirmed();
    const untraced = confirmed();
    await runInTrace(writer, () => insertOutboxRows(database.db, [afterCommit, relayed]));
    await insertOutboxRows(database.db, [untraced]);
    const { rows } = await sql<{ id: string; traceparent: string | null }>`
      select id, traceparent from outbox
      where id = any(${[afterCommit.id, relayed.id, untraced.id]}::uuid[])`.execute(database.db);
    expect(Object.fromEntries(rows.map((row) => [row.id, row.traceparent]))).toEqual({
      [afterCommit.id]: formatTraceparent(writer),
      [relayed.id]: formatTraceparent(writer),
      [untraced.id]: null,
    });

    const { bus, sent } = tracingBus();
    const outbox = createOutbox(database.db, bus);
    await runInTrace(writer, () => outbox.publishCommitted([afterCommit]));
    // The relay runs in housekeeping's trace, but each row's messages keep their writer's.
    await runInTrace(housekeeping, () => outbox.relay({ minAgeMs: 0 }));
    const traceOf = (id: string) => sent.find((message) => message.eventId === id)?.traceparent;
    expect(traceOf(afterCommit.id)).toBe(formatTraceparent(writer));
    expect(traceOf(relayed.id)).toBe(formatTraceparent(writer));
    expect(sent.some((message) => message.eventId === untraced.id)).toBe(true);
    expect(traceOf(untraced.id)).toBeUndefined();
  });

  it('refuses a value that is no W3C traceparent', async () => {
    const event = confirmed();
    await expect(
      database.db
        .insertInto('outbox')
        .values({
          id: event.id,
          event: JSON.stringify(event),
          producer: 'process-order',
          traceparent: '00-not-a-trace',
        })
        .execute(),
    ).rejects.toMatchObject({ code: '23514' });
  });
});
