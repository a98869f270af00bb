import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type Envelope } from '@orders/events';
import {
  createTopology,
  pullMessages,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createOutbox, outboxRows } from './outbox';
import { createPublisher } from './publisher';
import { createPubSubBus } from './pubsub-bus';
import { createPubSubClient } from './pubsub-client';
import { insertOutboxRows } from './testing';

// The rule every outbox row is published by (its producer may emit its type, its envelope is
// one of the catalog), held by the relay and by the publishing after commit, against the
// Pub/Sub emulator: what is refused never reaches a topic.

const projectId = testProjectId('outbox-producers');
let database: TestDatabase;
let pubsub: PubSub;
const taps = ['order-saga-tap', 'payments-tap', 'analytics-tap'];

beforeAll(async () => {
  database = await testDatabase('outbox-producers');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  for (const topic of ['order-saga', 'payments', 'analytics']) {
    await pubsub.topic(topic).createSubscription(`${topic}-tap`);
  }
});
afterAll(async () => {
  await pubsub?.close();
  await database?.close();
});

function outboxOnEmulator(onPublishError?: Parameters<typeof createOutbox>[2]) {
  const publisher = createPublisher({ projectId, emulatorHost: process.env.PUBSUB_EMULATOR_HOST! });
  return createOutbox(database.db, createPubSubBus(publisher), onPublishError);
}

/** The event ids that reached any topic, until the taps are quiet. */
async function publishedIds(): Promise<string[]> {
  const ids: string[] = [];
  for (const tap of taps) {
    const messages = await pullMessages(pubsub, tap, { count: 50, timeoutMs: 1000 });
    ids.push(...messages.map((message) => message.attributes.event_id!));
  }
  return ids;
}

function succeeded(source = 'payment-handler') {
  const orderId = randomUUID();
  return createEvent(
    'PaymentSucceeded',
    {
      orderId,
      paymentId: `pay_${orderId}`,
      providerRef: 'ch_1',
      amountMinor: 1299,
      currency: 'EUR',
    },
    { source, correlationId: randomUUID() },
  );
}

function confirmed() {
  return createEvent(
    'OrderConfirmed',
    { orderId: randomUUID(), totalMinor: 1299, currency: 'EUR' },
    { source: 'process-order', correlationId: randomUUID() },
  );
}

/** Plants a row as anyone with a connection could: any event, any producer (or none). */
async function plant(event: unknown, producer: string | null) {
  const id = (event as { id: string }).id;
  await database.db
    .insertInto('outbox')
    .values({ id, event: JSON.stringify(event), producer })
    .execute();
  return id;
}

async function setAsideReason(id: string) {
  const row = await database.db
    .selectFrom('outbox')
    .select(['sent_at', 'set_aside_reason', 'published_topics'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row;
}

describe('the outbox relay holds each row to its producer', () => {
  it('sets aside a forged type or producer, an invalid envelope and a missing producer: reported, never published', async () => {
    const forgedType = succeeded('place-order');
    const forgedProducer = succeeded('intruder');
    const negative = succeeded();
    const invalid = { ...negative, data: { ...negative.data, amountMinor: -5 } };
    const otherSubject = { ...succeeded(), subject: randomUUID() };
    // A producer's row whose event names another as its source.
    const otherSource = succeeded('place-order');
    const anonymous = confirmed();
    const good = confirmed();
    await plant(forgedType, 'place-order');
    await plant(forgedProducer, 'intruder');
    await plant(invalid, 'payment-handler');
    await plant(otherSubject, 'payment-handler');
    await plant(otherSource, 'payment-handler');
    await plant(anonymous, null);
    await insertOutboxRows(database.db, [good]);

    const report = await outboxOnEmulator().relay({ minAgeMs: 0 });
    expect(report).toMatchObject({ sent: 1, copies: 1, deferred: 0, failingRoutes: [] });
    const about = (event: Envelope) => ({
      id: event.id,
      type: event.type,
      correlationId: event.correlationId,
    });
    expect(report.setAside).toEqual([
      {
        ...about(forgedType),
        producer: 'place-order',
        reason: 'place-order may not emit PaymentSucceeded',
      },
      { ...about(forgedProducer), producer: 'intruder', reason: 'unknown producer intruder' },
      {
        ...about(invalid),
        producer: 'payment-handler',
        reason: expect.stringMatching(/^PaymentSucceeded v1 data: data\.amountMinor: /),
      },
      {
        ...about(otherSubject),
        producer: 'payment-handler',
        reason: expect.stringMatching(/^subject .* differs from data\.orderId/),
      },
      {
        ...about(otherSource),
        producer: 'payment-handler',
        reason: 'payment-handler wrote an event of place-order',
      },
      { ...about(anonymous), reason: 'no producer recorded' },
    ]);
    for (const refused of report.setAside) {
      expect(await setAsideReason(refused.id)).toEqual({
        sent_at: null,
        set_aside_reason: refused.reason,
        published_topics: [],
      });
    }
    expect(await publishedIds()).toEqual([good.id]);

    // Set aside for good: the next run publishes none of them.
    expect((await outboxOnEmulator().relay({ minAgeMs: 0 })).copies).toBe(0);
    expect(await publishedIds()).toEqual([]);
  });
});

describe('publishing after commit holds each event to the same rule', () => {
  it('publishes only events whose rows this process wrote through outboxRows, as their producer may', async () => {
    const errors: string[] = [];
    const outbox = outboxOnEmulator((error) => errors.push((error as Error).message));
    const written = confirmed();
    await insertOutboxRows(database.db, [written]);
    // Its row planted as a valid one (by anyone), the event handed over in memory.
    const planted = confirmed();
    await plant(planted, 'process-order');
    // Written, then changed in memory into what its producer may not publish.
    const changed = confirmed();
    await insertOutboxRows(database.db, [changed]);
    (changed.data as { totalMinor: number }).totalMinor = -1;

    expect(await outbox.publishCommitted([written, planted, changed])).toBe(false);
    expect(errors).toEqual([
      'not published after commit: its row was not written through outboxRows in this process',
      expect.stringMatching(
        /^not published after commit: OrderConfirmed v1 data: data\.totalMinor/,
      ),
    ]);
    expect(await publishedIds()).toEqual([written.id]);

    // The relay holds their rows to the rule: the planted one is valid, the changed one's row
    // is as it was written.
    const report = await outbox.relay({ minAgeMs: 0 });
    expect(report.setAside).toEqual([]);
    expect((await publishedIds()).sort()).toEqual([planted.id, changed.id].sort());
  });

  it('refuses to write a row of a type its producer may not emit', () => {
    const event = succeeded('process-order');
    expect(() => outboxRows('process-order', [event])).toThrow(
      `process-order may not emit PaymentSucceeded (event ${event.id}): see producers in @orders/events`,
    );
    expect(outboxRows('payment-handler', [event])).toEqual([
      {
        id: event.id,
        event: JSON.stringify(event),
        producer: 'payment-handler',
        traceparent: null,
      },
    ]);
  });
});
