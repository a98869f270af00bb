import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent } from '@orders/events';
import { type TestDatabase, testDatabase } from '@orders/local-stack';
import { runInTrace } from '@orders/messaging';
import { createOrderSagaEngine } from '@orders/ordering';
import { insertPlacedOrder } from '@orders/ordering/testing';
import { childSpan, createLogger, parseTraceContext } from '@orders/platform';
import { sql } from 'kysely';

/**
 * `pnpm sagas retry` (the built dist/sagas.js) moves a saga of its order: what the retry
 * emits carries the order's trace, not a trace of the command's own.
 */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'sagas.js');
let tmp: string;
let database: TestDatabase;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sagas-retry-trace-'));
  database = await testDatabase('sagas-retry-trace');
});

afterAll(async () => {
  await database?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('pnpm sagas retry', () => {
  it('emits the retried saga’s events in its order’s trace', async () => {
    const engine = createOrderSagaEngine(database.db, {
      paymentTimeoutMs: 120_000,
      refundTimeoutMs: 60_000,
      maxRefundRequests: 3,
      maxCompensationAttempts: 3,
    });
    const log = createLogger({ level: 'error' });
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
    // process-order and housekeeping move it in the order's trace: its payment times out,
    // then its refund goes unconfirmed three times, and it is parked.
    const inOrderTrace = <T>(work: () => Promise<T>) => runInTrace(childSpan(orderTrace), work);
    await inOrderTrace(() =>
      engine.apply(orderId, placed, {
        causationId: placed.id,
        log,
        correlationId: placed.correlationId,
      }),
    );
    for (const expected of ['CANCELLED', 'CANCELLED', 'CANCELLED', 'NEEDS_ATTENTION']) {
      const applied = await inOrderTrace(() =>
        engine.apply(orderId, { type: 'DeadlinePassed' }, { log, causationId: null }),
      );
      expect(applied).toMatchObject({ status: expected });
    }
    const refunds = async () => {
      const { rows } = await sql<{ traceparent: string | null }>`
        select traceparent from outbox
        where event->>'type' = 'RefundRequested' and event->'data'->>'orderId' = ${orderId}
        order by created_at, id`.execute(database.db);
      return rows.map((row) => parseTraceContext({ traceparent: row.traceparent })?.traceId);
    };
    expect(await refunds()).toEqual([orderTrace.traceId, orderTrace.traceId, orderTrace.traceId]);

    const { stdout } = await run(process.execPath, [cli, 'retry', orderId], {
      env: { DEV_STACK_FILE: join(tmp, 'no-dev-stack.json'), DATABASE_URL: database.url },
    });
    expect(stdout).toContain(`retried the saga of order ${orderId}`);
    expect(await refunds()).toEqual(Array(4).fill(orderTrace.traceId));
  }, 150_000);
});
