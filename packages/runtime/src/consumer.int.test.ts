import { randomUUID } from 'node:crypto';
import * as functions from '@google-cloud/functions-framework';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@orders/db';
import { causedBy, createEvent, type DomainEvent, encodeEvent } from '@orders/events';
import {
  createTopology,
  pullMessages,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import {
  createOutbox,
  createPublisher,
  createPubSubBus,
  createPubSubClient,
  createPubSubDeadLetters,
} from '@orders/messaging';
import { insertOutboxRows } from '@orders/messaging/testing';
import { createLogger } from '@orders/platform';
import { type Kysely, sql } from 'kysely';
import { createConsumer, type Handled, UnprocessableEventError } from './consumer';

/**
 * A test-only consumer of `order-saga`: it records each event it handles in a table of its
 * own (no unique key, so a second effect would show), emits OrderConfirmed for an
 * OrderPlaced, fails transiently while `failing` holds the customer, and refuses customer
 * `impossible` as unprocessable.
 */
const projectId = testProjectId('consumer');
const topic = 'order-saga';
const failing = new Set<string>();
/** Every line the consumer logged, parsed. */
const logged: Record<string, unknown>[] = [];
let database: TestDatabase;
let pubsub: PubSub;
let served: ServedFunction;

/**
 * The test consumer's store: in one transaction it claims the event in the inbox (a
 * duplicate finds the claim and writes nothing), writes its effect and the outbox row of
 * what it emits, as a real store does.
 */
async function handleInTestStore(db: Kysely<Database>, event: DomainEvent): Promise<Handled> {
  return db.transaction().execute(async (trx) => {
    const claimed = await sql`
      insert into processed_events (consumer, event_id) values ('test-consumer', ${event.id})
      on conflict do nothing
      returning event_id`.execute(trx);
    if (claimed.rows.length === 0) return 'duplicate';
    if (event.type !== 'OrderPlaced') return { emitted: [] };
    if (failing.has(event.data.customerId))
      throw Object.assign(new Error('lock timeout'), { code: '55P03' });
    if (event.data.customerId === 'impossible')
      throw new UnprocessableEventError('no such transition');
    if (event.data.customerId === 'constraint') {
      // A statement the database refuses for good: a retry would fail the same way.
      await sql`insert into test_effects values (${event.id}, null)`.execute(trx);
    }
    await sql`insert into test_effects values (${event.id}, ${event.data.orderId})`.execute(trx);
    await new Promise((resolve) => setTimeout(resolve, 30)); // widen the race window
    const { orderId, totalMinor, currency } = event.data;
    const emitted = [
      createEvent(
        'OrderConfirmed',
        { orderId, totalMinor, currency },
        // What the order saga emits, so under its producer's name (the outbox holds each row
        // to the producer that wrote it).
        causedBy(event, 'process-order'),
      ),
    ];
    await insertOutboxRows(trx, emitted);
    return { emitted };
  });
}

beforeAll(async () => {
  database = await testDatabase('consumer');
  await sql`create table test_effects (event_id uuid not null, order_id uuid not null)`.execute(
    database.db,
  );
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  pubsub = createPubSubClient({ projectId, emulatorHost });

  functions.cloudEvent(
    'testConsumer',
    createConsumer({
      name: 'test-consumer',
      topic,
      projectId,
      outbox: createOutbox(
        database.db,
        createPubSubBus(createPublisher({ projectId, emulatorHost })),
      ),
      deadLetters: createPubSubDeadLetters(createPublisher({ projectId, emulatorHost })),
      // At error: the outcome lines the metrics count are written whatever the level.
      logger: createLogger({ level: 'error', write: (line) => logged.push(JSON.parse(line)) }),
      legacyCurrency: 'USD',
      handle: (event) => handleInTestStore(database.db, event),
    }),
  );
  served = await serveFunction('testConsumer', { projectId, topic });

  await createTopology({
    emulatorHost,
    projectId,
    pushEndpoints: { [topic]: `${served.url}/projects/${projectId}/topics/${topic}` },
  });
  await pubsub.topic('analytics').createSubscription('analytics-tap');
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await database?.close();
});

function orderPlaced(customerId = 'cust-1'): DomainEvent<'OrderPlaced'> {
  return createEvent(
    'OrderPlaced',
    {
      orderId: randomUUID(),
      customerId,
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 1, unitPriceMinor: 1299 }],
      totalMinor: 1299,
    },
    { source: 'test', correlationId: randomUUID() },
  );
}

const rawPush = (message: { data: Buffer; attributes: Record<string, string> }) =>
  served.deliver(message, 'push');
const eventarcPush = (message: { data: Buffer; attributes: Record<string, string> }) =>
  served.deliver(message, 'eventarc');

async function effectsOf(event: DomainEvent) {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from test_effects where event_id = ${event.id}`.execute(database.db);
  return rows[0]!.n;
}

/** The outcome lines logged for `event`: what the log-based metrics count. */
const outcomesOf = (event: DomainEvent) =>
  logged
    .filter((line) => line.eventId === event.id && 'outcome' in line)
    .map(({ severity, message, outcome, consumer, topic }) => ({
      severity,
      message,
      outcome,
      consumer,
      topic,
    }));

describe('createConsumer', () => {
  it('handles the same event sent 8 times concurrently exactly once, and emits once', async () => {
    const event = orderPlaced();
    const message = encodeEvent(event);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? rawPush(message) : eventarcPush(message))),
    );

    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(204));
    expect(await effectsOf(event)).toBe(1);
    const emitted = await pullMessages(pubsub, 'analytics-tap', { count: 8, timeoutMs: 1500 });
    expect(emitted.map((m) => m.attributes)).toEqual([
      expect.objectContaining({
        event_type: 'OrderConfirmed',
        correlation_id: event.correlationId,
      }),
    ]);
    expect(JSON.parse(emitted[0]!.data.toString())).toMatchObject({
      causationId: event.id,
      subject: event.subject,
    });
    const outbox = await database.db.selectFrom('outbox').select(['id', 'sent_at']).execute();
    expect(outbox.filter((row) => row.sent_at === null)).toEqual([]);
  });

  it('accepts both delivery shapes', async () => {
    const viaPush = orderPlaced();
    const viaEventarc = orderPlaced();
    expect((await rawPush(encodeEvent(viaPush))).status).toBe(204);
    expect((await eventarcPush(encodeEvent(viaEventarc))).status).toBe(204);
    expect(await effectsOf(viaPush)).toBe(1);
    expect(await effectsOf(viaEventarc)).toBe(1);
    await pullMessages(pubsub, 'analytics-tap', { count: 2, timeoutMs: 1500 });
  });

  it('answers 500 on a transient failure, with no effect, so Pub/Sub redelivers; the redelivery succeeds', async () => {
    const event = orderPlaced('flaky');
    failing.add('flaky');
    const failed = await rawPush(encodeEvent(event));
    expect(failed.status).toBe(500);
    expect(await effectsOf(event)).toBe(0);

    failing.delete('flaky');
    expect((await rawPush(encodeEvent(event))).status).toBe(204);
    expect(await effectsOf(event)).toBe(1);
    await pullMessages(pubsub, 'analytics-tap', { count: 1, timeoutMs: 1500 });
  });

  it('dead-letters a message that fails its schema, with the reason, and acks it', async () => {
    const event = orderPlaced();
    const broken = { ...event, data: { ...event.data, currency: 'euro' } };
    const message = {
      data: Buffer.from(JSON.stringify(broken)),
      attributes: encodeEvent(event).attributes,
    };
    expect((await rawPush(message)).status).toBe(204);

    const [dead] = await pullMessages(pubsub, `${topic}-dlq`, { count: 1 });
    expect(dead?.attributes).toMatchObject({
      ...message.attributes,
      dlq_reason: expect.stringMatching(
        /^OrderPlaced v2 data: data\.currency: must be an ISO 4217/,
      ),
      dlq_consumer: 'test-consumer',
      dlq_source_topic: topic,
    });
    expect(dead?.data.toString()).toBe(message.data.toString());
    expect(await effectsOf(event)).toBe(0);
  });

  it('dead-letters an event the handler finds unprocessable', async () => {
    const event = orderPlaced('impossible');
    expect((await eventarcPush(encodeEvent(event))).status).toBe(204);
    const [dead] = await pullMessages(pubsub, `${topic}-dlq`, { count: 1 });
    expect(dead?.attributes).toMatchObject({
      event_id: event.id,
      dlq_reason: 'no such transition',
    });
  });

  it('dead-letters at once, with the reason, an event the database refuses for good (a constraint), and never retries it', async () => {
    const event = orderPlaced('constraint');
    expect((await rawPush(encodeEvent(event))).status).toBe(204);
    const [dead] = await pullMessages(pubsub, `${topic}-dlq`, { count: 1 });
    expect(dead?.attributes).toMatchObject({
      event_id: event.id,
      dlq_reason: expect.stringMatching(
        /^the database refused it for good \(SQLSTATE 23502\): null value in column "order_id"/,
      ),
    });
    expect(await effectsOf(event)).toBe(0);
  });

  it('through the emulator: a push subscription delivers once, and a malformed message ends on the DLQ with its reason', async () => {
    const event = orderPlaced();
    await pubsub.topic(topic).publishMessage(encodeEvent(event));
    await pubsub
      .topic(topic)
      .publishMessage({ data: Buffer.from('{"oops"'), attributes: { event_type: 'OrderPlaced' } });

    const [dead] = await pullMessages(pubsub, `${topic}-dlq`, { count: 1, timeoutMs: 20_000 });
    expect(dead?.attributes).toMatchObject({
      dlq_reason: 'message data is not JSON',
      dlq_source_topic: topic,
    });
    const deadline = Date.now() + 10_000;
    while ((await effectsOf(event)) === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await effectsOf(event)).toBe(1);
  });

  it('continues the trace its message carries, not the push delivery’s', async () => {
    const producer = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const delivery = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    /** An Eventarc delivery in the push's own trace (`ce-traceparent`). */
    const deliverInTrace = (message: { data: Buffer; attributes: Record<string, string> }) =>
      fetch(`${served.url}/`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ce-id': randomUUID(),
          'ce-specversion': '1.0',
          'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
          'ce-source': `//pubsub.googleapis.com/projects/${projectId}/topics/${topic}`,
          'ce-time': new Date().toISOString(),
          'ce-traceparent': delivery,
        },
        body: JSON.stringify({
          message: {
            data: message.data.toString('base64'),
            attributes: message.attributes,
            messageId: randomUUID(),
            publishTime: new Date().toISOString(),
          },
        }),
      });
    const traced = orderPlaced();
    const untraced = orderPlaced();
    const encoded = encodeEvent(traced);
    const withTrace = {
      ...encoded,
      attributes: { ...encoded.attributes, googclient_traceparent: producer },
    };
    expect((await deliverInTrace(withTrace)).status).toBe(204);
    expect((await deliverInTrace(encodeEvent(untraced))).status).toBe(204);

    // Earlier tests' messages may still be on the tap: read until both are found.
    const emitted: Awaited<ReturnType<typeof pullMessages>> = [];
    const mine = [traced.correlationId, untraced.correlationId];
    for (let pulls = 0; pulls < 10; pulls++) {
      emitted.push(...(await pullMessages(pubsub, 'analytics-tap', { count: 10, timeoutMs: 500 })));
      if (mine.every((id) => emitted.some((m) => m.attributes.correlation_id === id))) break;
    }
    const traceOf = (event: DomainEvent) =>
      emitted.find((m) => m.attributes.correlation_id === event.correlationId)?.attributes
        .googclient_traceparent;
    // The same trace, in a span of the consumer's own.
    expect(traceOf(traced)).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[\da-f]{16}-01$/);
    expect(traceOf(traced)).not.toBe(producer);
    // A message that carries none stays in the delivery's trace.
    expect(traceOf(untraced)).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[\da-f]{16}-01$/);
  });

  it('logs one line per delivery with its outcome, consumer and topic, whatever the log level', async () => {
    const line = (severity: string, message: string, outcome: string) => ({
      severity,
      message,
      outcome,
      consumer: 'test-consumer',
      topic,
    });
    const event = orderPlaced('flaky-outcomes');
    failing.add('flaky-outcomes');
    expect((await rawPush(encodeEvent(event))).status).toBe(500);
    failing.delete('flaky-outcomes');
    expect((await rawPush(encodeEvent(event))).status).toBe(204);
    expect((await rawPush(encodeEvent(event))).status).toBe(204);
    expect(outcomesOf(event)).toEqual([
      line('WARNING', 'handling failed; Pub/Sub will redeliver', 'retried'),
      line('INFO', 'event handled', 'handled'),
      line('INFO', 'duplicate delivery ignored', 'duplicate'),
    ]);
    await pullMessages(pubsub, 'analytics-tap', { count: 1, timeoutMs: 1500 });

    const impossible = orderPlaced('impossible');
    expect((await rawPush(encodeEvent(impossible))).status).toBe(204);
    expect(outcomesOf(impossible)).toEqual([
      line('WARNING', 'message dead-lettered', 'dead-lettered'),
    ]);
    await pullMessages(pubsub, `${topic}-dlq`, { count: 1 });
  });
});
