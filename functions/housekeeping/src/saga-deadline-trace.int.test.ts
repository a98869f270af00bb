import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createEvent } from '@orders/events';
import {
  createTopology,
  pullMessages,
  queryOnce,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient, runInTrace, traceOfMessage } from '@orders/messaging';
import { createOrderSagaEngine } from '@orders/ordering';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { childSpan, createLogger, parseTraceContext } from '@orders/platform';

/**
 * A saga deadline that housekeeping fires belongs to its order, not to the tick: the lines
 * logged for the order and the events it emits carry the order's trace.
 */
const projectId = testProjectId('housekeeping-trace');
let database: TestDatabase;
let pubsub: PubSub;
let served: ServedFunction;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await testDatabase('housekeeping-trace');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'info',
    OUTBOX_RELAY_MIN_AGE_MS: '0',
  });
  const write = process.stdout.write.bind(process.stdout);
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk, ...rest) => {
    const text = String(chunk);
    if (!text.startsWith('{')) return write(chunk, ...(rest as []));
    for (const line of text.split('\n').filter(Boolean)) lines.push(JSON.parse(line));
    return true;
  });
  require('./index');
  served = await serveFunction('runHousekeeping', { projectId, topic: 'housekeeping' });
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await database?.close();
  jest.restoreAllMocks();
});

describe('housekeeping: a saga deadline in its order’s trace', () => {
  it('logs and emits what a passed deadline does under the order’s trace, not the tick’s', async () => {
    const orderTrace = childSpan(undefined, true);
    const placed = createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: 'cust-trace',
        currency: 'EUR',
        items: [{ sku: 'TEA-002', quantity: 1, unitPriceMinor: 899 }],
        totalMinor: 899,
      },
      { source: 'place-order', correlationId: randomUUID() },
    );
    const { orderId } = placed.data;
    await insertPlacedOrder(database.db, placed);
    // process-order moves the saga in the order's trace (its OrderPlaced message carries it).
    const engine = createOrderSagaEngine(database.db, {
      paymentTimeoutMs: 60_000,
      refundTimeoutMs: 60_000,
      maxRefundRequests: 2,
      maxCompensationAttempts: 3,
    });
    const applied = await runInTrace(orderTrace, () =>
      engine.apply(orderId, placed, {
        causationId: placed.id,
        correlationId: placed.correlationId,
        log: createLogger({ level: 'error' }),
      }),
    );
    expect(applied).toMatchObject({ status: 'AWAITING_PAYMENT' });
    const run = (text: string) => queryOnce(database.url, text, [orderId]);
    await run(`update sagas set deadline_at = now() - interval '1 second' where id = $1`);
    // The rows written so far are not this test's business: sent, so the relay skips them.
    const before = await run(
      `update outbox set sent_at = now() where event->'data'->>'orderId' = $1 returning id`,
    );

    lines.length = 0;
    expect((await served.deliver({ data: Buffer.from('{"job":"housekeeping"}') })).status).toBe(
      204,
    );

    const tickLine = lines.find((line) => line.message === 'housekeeping done');
    const tickTrace = tickLine?.['logging.googleapis.com/trace'];
    expect(tickTrace).toMatch(new RegExp(`^projects/${projectId}/traces/[0-9a-f]{32}$`));
    expect(tickTrace).not.toBe(`projects/${projectId}/traces/${orderTrace.traceId}`);
    const orderLines = lines.filter((line) => line.sagaId === orderId);
    expect(orderLines.map((line) => line.message)).toContain('saga deadline passed');
    for (const line of orderLines) {
      expect(line['logging.googleapis.com/trace']).toBe(
        `projects/${projectId}/traces/${orderTrace.traceId}`,
      );
    }

    const { rows } = await queryOnce(
      database.url,
      `select event->>'type' as type, traceparent from outbox
       where event->'data'->>'orderId' = $1 and not (id = any($2::uuid[])) order by type`,
      [orderId, before.rows.map((row) => row.id)],
    );
    expect(rows.map((row) => row.type)).toEqual(['OrderCancelled', 'RefundRequested']);
    for (const row of rows) {
      expect(parseTraceContext({ traceparent: row.traceparent })?.traceId).toBe(orderTrace.traceId);
    }
    const [message] = await pullMessages(pubsub, 'payment-handler', { count: 1 });
    expect(message?.attributes.event_type).toBe('RefundRequested');
    expect(traceOfMessage(message?.attributes)?.traceId).toBe(orderTrace.traceId);
  }, 60_000);
});
