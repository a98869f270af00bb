import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, encodeEvent } from '@orders/events';
import {
  type LocalStack,
  lineSink,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
  waiterShowing,
} from '@orders/local-stack';
import { createPubSubClient, traceparentAttribute } from '@orders/messaging';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { createPubSubDeadLetterQueue } from './dead-letter-queue';
import { findOrderRecord } from './order-record';
import { formatOrderTimeline, orderTimeline, type SpanRecord } from './order-timeline';

/**
 * One trace per order, on the whole local stack with OpenTelemetry on: every function's log
 * lines about an order are filed under the one trace its messages carry
 * (`googclient_traceparent`), across a dead letter and its replay, and the exported spans form
 * one tree. `pnpm trace`'s timeline is read from the same records.
 */
let database: TestDatabase;
let stack: LocalStack;
let pubsub: PubSub;
let dir: string;
const output: string[] = [];
const waitFor = waiterShowing(output);

beforeAll(async () => {
  database = await testDatabase('trace');
  dir = await mkdtemp(join(tmpdir(), 'trace-test-'));
  stack = await startLocalStack({
    projectId: testProjectId('trace'),
    functions: [
      'place-order',
      'process-order',
      'payment-handler',
      'analytics-loader',
      'housekeeping',
    ],
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      DUCKDB_PATH: join(dir, 'warehouse.duckdb'),
      SANDBOX_LATENCY_MS: '5',
      OUTBOX_RELAY_MIN_AGE_MS: '1000',
      OTEL_TRACES: 'on',
      OTEL_TRACES_FILE: join(dir, 'spans.jsonl'),
    },
    housekeepingIntervalMs: 1_000,
    functionStdout: lineSink((line) => output.push(line)),
    functionStderr: lineSink((line) => output.push(line)),
    functionLogFile: join(dir, 'functions.log'),
  });
  pubsub = createPubSubClient({
    projectId: stack.projectId,
    emulatorHost: stack.pubsubEmulatorHost,
  });
}, 120_000);

afterAll(async () => {
  await pubsub?.close();
  await stack?.stop();
  await database?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface LogEntry {
  function: string;
  message: string;
  trace?: string;
  eventType?: string;
}

/** The recorded log lines of a correlation id, as `<function> | <JSON>`. */
async function linesOf(correlationId: string): Promise<LogEntry[]> {
  const text = await readFile(join(dir, 'functions.log'), 'utf8');
  return text.split('\n').flatMap((line) => {
    const match = /^([a-z-]+) \| (\{.*\})$/.exec(line);
    if (!match) return [];
    const entry = JSON.parse(match[2]!) as Record<string, unknown>;
    if (entry.correlationId !== correlationId) return [];
    return [
      {
        function: match[1]!,
        message: String(entry.message),
        ...(typeof entry['logging.googleapis.com/trace'] === 'string'
          ? { trace: entry['logging.googleapis.com/trace'] }
          : {}),
        ...(typeof entry.eventType === 'string' ? { eventType: entry.eventType } : {}),
      },
    ];
  });
}

async function spansOf(traceId: string): Promise<SpanRecord[]> {
  const text = await readFile(join(dir, 'spans.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as SpanRecord)
    .filter((span) => span.traceId === traceId);
}

/** Waits until analytics has loaded the order's OrderConfirmed: the last hop of an order. */
async function waitForLastHop(correlationId: string) {
  await waitFor(
    'analytics-loader to load the OrderConfirmed',
    async () =>
      (await linesOf(correlationId)).some(
        (line) =>
          line.function === 'analytics-loader' &&
          line.eventType === 'OrderConfirmed' &&
          line.message === 'event handled',
      ),
    60_000,
  );
}

const allFunctions = ['analytics-loader', 'payment-handler', 'place-order', 'process-order'];

describe('one trace per order', () => {
  it('files every line of an order, from intake to analytics, under one trace; its spans form one tree', async () => {
    const response = await fetch(`${stack.functions['place-order']}/orders`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await stack.auth!.token('cust-trace')}`,
      },
      body: JSON.stringify({ currency: 'EUR', items: [{ sku: 'MUG-001', quantity: 1 }] }),
    });
    expect(response.status).toBe(202);
    const { orderId, correlationId } = (await response.json()) as {
      orderId: string;
      correlationId: string;
    };
    await waitForLastHop(correlationId);

    const lines = await linesOf(correlationId);
    expect([...new Set(lines.map((line) => line.function))].sort()).toEqual(allFunctions);
    const traces = new Set(lines.map((line) => line.trace));
    expect(traces.size).toBe(1);
    const [trace] = [...traces];
    expect(trace).toMatch(new RegExp(`^projects/${stack.projectId}/traces/[\\da-f]{32}$`));
    const traceId = trace!.slice(-32);

    // The outbox kept it for every event of the order (the relay publishes with it).
    const order = (await findOrderRecord(database.db, orderId))!;
    expect(order.status).toBe('CONFIRMED');
    expect(order.events.map((event) => event.type)).toEqual([
      'OrderPlaced',
      'PaymentRequested',
      'PaymentSucceeded',
      'OrderConfirmed',
    ]);
    for (const event of order.events) expect(event.traceparent).toContain(`-${traceId}-`);

    // One tree: the intake's request is the root, every other span's parent is in the trace.
    const spans = await spansOf(traceId);
    const ids = new Set(spans.map((span) => span.spanId));
    const roots = spans.filter((span) => !span.parentSpanId);
    expect(roots.map((span) => span.name)).toEqual(['POST /orders']);
    for (const span of spans.filter((span) => span.parentSpanId)) {
      expect(ids).toContain(span.parentSpanId);
    }
    expect(new Set(spans.map((span) => span.service))).toEqual(new Set(allFunctions));

    const timeline = orderTimeline(
      order,
      (await readFile(join(dir, 'functions.log'), 'utf8')).split('\n'),
      (await readFile(join(dir, 'spans.jsonl'), 'utf8')).split('\n'),
    );
    expect(timeline.traceIds).toEqual([traceId]);
    expect(timeline.hops[0]).toMatchObject({ function: 'place-order', what: 'POST /orders' });
    // Each hop of the order (a delivery handled twice, as at-least-once allows, is one hop).
    const handled = new Set(
      timeline.hops
        .filter((hop) => hop.outcome === 'handled')
        .map((hop) => `${hop.function} ${hop.what}`),
    );
    expect([...handled].sort()).toEqual([
      'analytics-loader OrderConfirmed',
      'analytics-loader OrderPlaced',
      'analytics-loader PaymentRequested',
      'analytics-loader PaymentSucceeded',
      'payment-handler PaymentRequested',
      'process-order OrderPlaced',
      'process-order PaymentSucceeded',
    ]);
    for (const hop of timeline.hops.slice(1)) {
      expect(hop.queueMs).toBeGreaterThanOrEqual(0);
      expect(hop.handlingMs).toBeGreaterThanOrEqual(0);
    }
    expect(formatOrderTimeline(timeline)).toContain(
      `trace ${traceId} (one trace across 4 functions)`,
    );
  }, 90_000);

  it('keeps the producer’s trace across a dead letter and its replay', async () => {
    // A producer with its own trace sends an OrderPlaced whose currency it spelled wrong.
    const traceId = randomBytes(16).toString('hex');
    const producerSpan = randomBytes(8).toString('hex');
    const good = createEvent(
      'OrderPlaced',
      {
        orderId: randomUUID(),
        customerId: 'cust-trace-dlq',
        currency: 'EUR',
        items: [{ sku: 'MUG-001', quantity: 1, unitPriceMinor: 1850 }],
        totalMinor: 1850,
      },
      { source: 'place-order', correlationId: randomUUID() },
    );
    await insertPlacedOrder(database.db, good);
    await database.db
      .updateTable('outbox')
      .set({ sent_at: new Date() })
      .where('id', '=', good.id)
      .execute();
    const broken = { ...good, data: { ...good.data, currency: 'eur' } };
    await pubsub.topic('order-saga').publishMessage({
      data: Buffer.from(JSON.stringify(broken)),
      attributes: {
        ...encodeEvent(good).attributes,
        [traceparentAttribute]: `00-${traceId}-${producerSpan}-01`,
      },
    });

    const queue = createPubSubDeadLetterQueue({
      projectId: stack.projectId,
      emulatorHost: stack.pubsubEmulatorHost,
      topics: ['order-saga'],
    });
    try {
      await waitFor(
        'the broken OrderPlaced on order-saga-dlq',
        async () => (await queue.list()).some((letter) => letter.eventId === good.id),
        30_000,
      );
      const [outcome] = await queue.replay(
        (letter) => letter.eventId === good.id,
        () => Buffer.from(JSON.stringify(good)),
      );
      expect(outcome).toMatchObject({ replayed: true });
    } finally {
      await queue.close();
    }
    await waitForLastHop(good.correlationId);

    const lines = await linesOf(good.correlationId);
    expect(lines).toContainEqual(
      expect.objectContaining({ function: 'process-order', message: 'message dead-lettered' }),
    );
    expect([...new Set(lines.map((line) => line.function))].sort()).toEqual(
      allFunctions.filter((name) => name !== 'place-order'),
    );
    expect(new Set(lines.map((line) => line.trace))).toEqual(
      new Set([`projects/${stack.projectId}/traces/${traceId}`]),
    );

    // Every span hangs from the producer's span, or from another span of the trace.
    const spans = await spansOf(traceId);
    const parents = new Set([producerSpan, ...spans.map((span) => span.spanId)]);
    expect(spans.length).toBeGreaterThanOrEqual(7);
    for (const span of spans) expect(parents).toContain(span.parentSpanId);

    const order = (await findOrderRecord(database.db, good.data.orderId))!;
    const timeline = orderTimeline(
      order,
      (await readFile(join(dir, 'functions.log'), 'utf8')).split('\n'),
    );
    const sagaHops = timeline.hops.filter(
      (hop) => hop.function === 'process-order' && hop.what === 'OrderPlaced',
    );
    expect(sagaHops.map((hop) => hop.outcome)).toEqual(['dead-lettered', 'handled']);
    expect(sagaHops[0]!.detail).toMatch(/currency/);
    expect(timeline.traceIds).toEqual([traceId]);
  }, 120_000);
});
