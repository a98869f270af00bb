import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AuditableWarehouse, createDuckDbWarehouse } from '@orders/analytics';
import {
  causedBy,
  createEvent,
  type DomainEvent,
  type EncodedMessage,
  encodeEvent,
  routedCopies,
} from '@orders/events';
import { pythonReferenceOrderPlaced } from '@orders/events/testing';
import {
  createTopology,
  pullMessages,
  type ServedFunction,
  serveFunction,
  testProjectId,
  waiterShowing,
} from '@orders/local-stack';
import { createPublisher, createPubSubBus, createPubSubClient } from '@orders/messaging';

// The function reads its config from the environment at load, as on Cloud Run.
const projectId = testProjectId('analytics-loader');
const topic = 'analytics';
let dir: string;
let warehousePath: string;
let pubsub: PubSub;
let served: ServedFunction;
/** The same file, read as `pnpm analytics` does, from outside the function. */
let warehouse: AuditableWarehouse;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'analytics-loader-'));
  warehousePath = join(dir, '.local', 'warehouse.duckdb');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  Object.assign(process.env, {
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
    WAREHOUSE: 'duckdb',
    DUCKDB_PATH: warehousePath,
    DUCKDB_LOCK_TIMEOUT_MS: '300',
    // The currency of the Python reference's events, which carry none.
    LEGACY_CURRENCY: 'GBP',
  });
  require('./index');
  served = await serveFunction('loadAnalytics', { projectId, topic });
  // The consumer subscription pushes to this server, as under `pnpm dev`.
  await createTopology({
    emulatorHost,
    projectId,
    pushEndpoints: { [topic]: `${served.url}/projects/${projectId}/topics/${topic}` },
  });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  warehouse = createDuckDbWarehouse({ path: warehousePath });
});

afterAll(async () => {
  await warehouse?.close();
  await served?.close();
  await pubsub?.close();
  await rm(dir, { recursive: true, force: true });
});

type Message = Pick<EncodedMessage, 'data' | 'attributes'>;

/** The warehouse's audit of an order, once it holds `count` events of it (at most 20 s). */
async function auditOnceLoaded(orderId: string, count: number) {
  let audit: Awaited<ReturnType<AuditableWarehouse['auditEvents']>> = [];
  await waiterShowing([], 200)(
    `${count} events of order ${orderId} in the warehouse`,
    async () => {
      audit = await warehouse.auditEvents({ orderIds: [orderId] });
      return audit.length >= count;
    },
    20_000,
  );
  return audit;
}

const run = promisify(execFile);

/** The rows of an order in the dedup view, read by another DuckDB client (waiting its turn). */
async function warehouseRowsOf(orderId: string) {
  const { stdout } = await run(
    process.execPath,
    [
      '-e',
      `const { DuckDBInstance } = require('@duckdb/node-api');
       const [path, orderId] = process.argv.slice(1);
       const open = () => DuckDBInstance.create(path, { access_mode: 'READ_ONLY' })
         .catch(() => new Promise((resolve) => setTimeout(resolve, 20)).then(open));
       open().then(async (db) => {
         const connection = await db.connect();
         const result = await connection.runAndReadAll(
           'SELECT event_type, order_id, CAST(data AS VARCHAR) AS data FROM events_deduped WHERE order_id = $1',
           [orderId],
         );
         process.stdout.write(JSON.stringify(result.getRowObjectsJson()));
         connection.closeSync();
         db.closeSync();
       });`,
      warehousePath,
      orderId,
    ],
    { cwd: join(__dirname, '..', '..', '..', 'packages', 'analytics'), timeout: 20_000 },
  );
  return (JSON.parse(stdout) as { event_type: string; order_id: string; data: string }[]).map(
    (row) => ({ ...row, data: JSON.parse(row.data) as unknown }),
  );
}

/** A raw Pub/Sub push, as the emulator sends it. */
const rawPush = (message: Message) => served.deliver(message, 'push');

/** A binary-mode CloudEvent, as Eventarc delivers it. */
const eventarcPush = (message: Message) => served.deliver(message, 'eventarc');

/** Every event of one order that was confirmed after a declined first attempt... in short, one of each type. */
function oneOfEachType(): DomainEvent[] {
  const orderId = randomUUID();
  const paymentId = `pay-${orderId}`;
  const placed = createEvent(
    'OrderPlaced',
    {
      orderId,
      customerId: 'cust-1',
      currency: 'EUR',
      items: [{ sku: 'TEA-001', quantity: 2, unitPriceMinor: 1299 }],
      totalMinor: 2598,
    },
    { source: 'place-order', correlationId: randomUUID() },
  );
  const money = { amountMinor: 2598, currency: 'EUR' };
  const requested = createEvent(
    'PaymentRequested',
    { orderId, paymentId, customerId: 'cust-1', ...money },
    causedBy(placed, 'process-order'),
  );
  return [
    placed,
    requested,
    createEvent(
      'PaymentSucceeded',
      { orderId, paymentId, providerRef: 'ref-1', ...money },
      causedBy(requested, 'payment-handler'),
    ),
    createEvent(
      'PaymentFailed',
      { orderId, paymentId, reason: 'declined' },
      causedBy(requested, 'payment-handler'),
    ),
    createEvent(
      'RefundRequested',
      { orderId, paymentId, ...money, reason: 'late_payment' },
      causedBy(placed, 'process-order'),
    ),
    createEvent(
      'PaymentRefunded',
      { orderId, paymentId, refundId: 'rf-1', kind: 'refund', ...money },
      causedBy(placed, 'payment-handler'),
    ),
    createEvent(
      'OrderConfirmed',
      { orderId, totalMinor: 2598, currency: 'EUR' },
      causedBy(placed, 'process-order'),
    ),
    createEvent(
      'OrderCancelled',
      { orderId, reason: 'payment_timeout' },
      causedBy(placed, 'process-order'),
    ),
  ];
}

describe('analytics-loader', () => {
  it('loads events of every type, from both delivery shapes, with their envelope', async () => {
    const events = oneOfEachType();
    const responses = await Promise.all(
      events.map((event, i) => (i % 2 ? rawPush : eventarcPush)(encodeEvent(event))),
    );
    expect(responses.map((response) => response.status)).toEqual(events.map(() => 204));

    const audit = await warehouse.auditEvents({ orderIds: [events[0]!.subject] });
    expect(
      audit.map(({ eventId, eventType, rawRows, exactlyOnce }) => ({
        eventId,
        eventType,
        rawRows,
        exactlyOnce,
      })),
    ).toEqual(
      expect.arrayContaining(
        events.map((event) => ({
          eventId: event.id,
          eventType: event.type,
          rawRows: 1,
          exactlyOnce: true,
        })),
      ),
    );
    expect(audit).toHaveLength(8);
  });

  it('keeps one row per event in the dedup view when the same event arrives 8 times at once', async () => {
    const event = oneOfEachType()[0]!;
    const message = encodeEvent(event);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? rawPush(message) : eventarcPush(message))),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(204));

    expect(await warehouse.auditEvents({ orderIds: [event.subject] })).toEqual([
      {
        eventId: event.id,
        eventType: 'OrderPlaced',
        orderId: event.subject,
        rawRows: 8,
        viewRows: 1,
        exactlyOnce: true,
      },
    ]);
  });

  it('dead-letters a malformed message to analytics-dlq with its reason, and loads nothing', async () => {
    const event = oneOfEachType()[6] as DomainEvent<'OrderConfirmed'>;
    const broken = { ...event, data: { ...event.data, totalMinor: 12.5 } };
    const schemaFailure = {
      data: Buffer.from(JSON.stringify(broken)),
      attributes: encodeEvent(event).attributes,
    };
    const notJson = { data: Buffer.from('{"oops"'), attributes: { event_type: 'OrderConfirmed' } };
    expect((await rawPush(schemaFailure)).status).toBe(204);
    expect((await eventarcPush(notJson)).status).toBe(204);

    const dead = await pullMessages(pubsub, `${topic}-dlq`, { count: 2 });
    expect(
      dead
        .map((message) => message.attributes)
        .sort((a, b) => a.dlq_reason!.localeCompare(b.dlq_reason!)),
    ).toEqual([
      expect.objectContaining({
        dlq_reason: 'message data is not JSON',
        dlq_consumer: 'analytics-loader',
        dlq_source_topic: topic,
      }),
      expect.objectContaining({
        event_id: event.id,
        dlq_reason: expect.stringMatching(/^OrderConfirmed v1 data: data\.totalMinor: /),
        dlq_consumer: 'analytics-loader',
        dlq_source_topic: topic,
      }),
    ]);
    expect(await warehouse.auditEvents({ orderIds: [event.subject] })).toEqual([]);
  });

  it('answers 500 while another process holds the warehouse file, so that Pub/Sub redelivers', async () => {
    const event = oneOfEachType()[0]!;
    const holder = spawn(
      process.execPath,
      [
        '-e',
        // Waits its turn like any other process: this one may still hold the file a moment.
        `const { DuckDBInstance } = require('@duckdb/node-api');
         const open = () => DuckDBInstance.create(process.argv[1])
           .catch(() => new Promise((resolve) => setTimeout(resolve, 20)).then(open));
         open().then((db) => {
           process.stdout.write('locked\\n');
           const release = () => { db.closeSync(); process.exit(0); };
           process.stdin.on('data', release).on('end', release);
           // Not a wait: a holder the test never lets go of exits by itself.
           setTimeout(release, 20000);
         });`,
        warehousePath,
      ],
      {
        cwd: join(__dirname, '..', '..', '..', 'packages', 'analytics'),
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    await new Promise<void>((resolve) => holder.stdout!.on('data', () => resolve()));
    try {
      expect((await rawPush(encodeEvent(event))).status).toBe(500);
    } finally {
      holder.stdin!.write('go\n');
      await exited;
    }
    expect(await warehouse.auditEvents({ orderIds: [event.subject] })).toEqual([]);
    expect((await rawPush(encodeEvent(event))).status).toBe(204);
    expect(await warehouse.auditEvents({ orderIds: [event.subject] })).toEqual([
      expect.objectContaining({ eventId: event.id, rawRows: 1, exactlyOnce: true }),
    ]);
  });

  it('through the emulator: what producers publish reaches the warehouse by push', async () => {
    const events = oneOfEachType().slice(0, 2);
    const outcomes = await createPubSubBus(
      createPublisher({ projectId, emulatorHost: process.env.PUBSUB_EMULATOR_HOST! }),
    ).publish(routedCopies(events));
    expect(outcomes.filter((outcome) => !outcome.published)).toEqual([]);
    const audit = await auditOnceLoaded(events[0]!.subject, 2);
    expect(audit.map((row) => row.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    expect(audit.every((row) => row.exactlyOnce)).toBe(true);
  });

  it('loads an OrderPlaced of the Python reference producer as v2, in LEGACY_CURRENCY, its float total rounded to minor units', async () => {
    const orderId = randomUUID();
    const customerId = randomUUID();
    const message = pythonReferenceOrderPlaced({
      event_id: randomUUID(),
      occurred_at: new Date(),
      correlation_id: null,
      order_id: orderId,
      customer_id: customerId,
      total_amount: 10.2 * 3, // 30.599999999999998
    });
    // As its producer publishes: the bytes and two attributes, no ordering key.
    await createPublisher({
      projectId,
      emulatorHost: process.env.PUBSUB_EMULATOR_HOST!,
    }).publish(topic, message);

    expect(await auditOnceLoaded(orderId, 1)).toEqual([
      expect.objectContaining({ eventType: 'OrderPlaced', orderId, exactlyOnce: true }),
    ]);
    expect(await warehouseRowsOf(orderId)).toEqual([
      {
        event_type: 'OrderPlaced',
        order_id: orderId,
        data: { orderId, customerId, currency: 'GBP', totalMinor: 3060 },
      },
    ]);
  });
});
