import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  emulatorClient,
  type LocalStack,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
  waiterShowing,
  writeDevStackFile,
} from '@orders/local-stack';

/**
 * `pnpm orders show` (dist/orders.js) as a user runs it, against a stack of every built
 * function (real PostgreSQL, the emulator, functions-framework) through which an order went.
 */
const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'orders.js');
let tmp: string;
let database: TestDatabase;
let stack: LocalStack;
let stackFile: string;
/** What the stack's functions print; shown when a wait times out. */
const functionLines: string[] = [];
const waitFor = waiterShowing(functionLines);

async function orders(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: {
        PATH: process.env.PATH,
        DEV_STACK_FILE: stackFile,
        DUCKDB_PATH: join(tmp, 'warehouse.duckdb'),
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function sink() {
  const stream = new PassThrough();
  stream.on('data', (chunk) => {
    functionLines.push(...String(chunk).split('\n').filter(Boolean));
    functionLines.splice(0, Math.max(0, functionLines.length - 100));
  });
  return stream;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'orders-test-'));
  database = await testDatabase('orders');
  stack = await startLocalStack({
    projectId: testProjectId('orders'),
    functions: 'all-existing',
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      DUCKDB_PATH: join(tmp, 'warehouse.duckdb'),
      LOG_LEVEL: 'warn',
    },
    functionStdout: sink(),
    functionStderr: sink(),
  });
  stackFile = join(tmp, 'dev-stack.json');
  await writeDevStackFile(stack, stackFile);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await database?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function placeOrder(customerId: string): Promise<string> {
  const url = stack.functions['place-order']!;
  const headers = { authorization: `Bearer ${await stack.auth!.token(customerId)}` };
  const placed = await fetch(`${url}/orders`, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/json',
      'idempotency-key': `orders-${customerId}`,
    },
    body: JSON.stringify({ currency: 'EUR', items: [{ sku: 'TEA-001', quantity: 2 }] }),
  });
  expect(placed.status).toBe(202);
  const { orderId } = (await placed.json()) as { orderId: string };
  await waitFor(
    `order ${orderId} to be final`,
    async () => {
      const state = (await (await fetch(`${url}/orders/${orderId}`, { headers })).json()) as {
        status: string;
      };
      return ['CONFIRMED', 'CANCELLED'].includes(state.status);
    },
    30_000,
  );
  return orderId;
}

interface Journey {
  order: {
    orderId: string;
    status: string;
    cancelReason: string | null;
    correlationId: string;
    items: unknown[];
  };
  saga: { saga: { status: string }; transitions: { to: string }[] };
  payments: { status: string; amountMinor: number }[];
  providerOperations: { kind: string; outcome: string }[];
  analytics: { rows: { eventType: string }[] };
  deadLetters: { rows: { reason: string; correlationId: string }[] };
  logs: string;
}

describe('pnpm orders show', () => {
  it("shows one order's whole journey: order, saga, payments, provider, analytics, its dead letters, its logs", async () => {
    const confirmed = await placeOrder('cust-journey');
    const declined = await placeOrder('decline-journey');
    const show = async (orderId: string) => {
      const result = await orders(['show', orderId, '--json']);
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      return JSON.parse(result.stdout) as Journey;
    };
    // A dead letter of the confirmed order's, and one of another order's, on payments-dlq.
    const { correlationId } = (await show(confirmed)).order;
    const pubsub = emulatorClient({
      projectId: stack.projectId,
      emulatorHost: stack.pubsubEmulatorHost,
    });
    for (const [id, reason] of [
      [correlationId, 'refused: of this order'],
      ['6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10', 'refused: of another order'],
    ]) {
      await pubsub.topic('payments-dlq').publishMessage({
        data: Buffer.from('{}'),
        attributes: { dlq_reason: reason!, correlation_id: id!, event_type: 'PaymentRequested' },
      });
    }
    await pubsub.close();

    let journey: Journey | undefined;
    await waitFor(
      'the confirmed order to be in the warehouse',
      async () => {
        journey = await show(confirmed);
        return journey.analytics.rows.some((event) => event.eventType === 'OrderConfirmed');
      },
      30_000,
    );
    expect(journey!).toMatchObject({
      order: {
        orderId: confirmed,
        status: 'CONFIRMED',
        cancelReason: null,
        items: [{ sku: 'TEA-001', quantity: 2 }],
      },
      saga: { saga: { status: 'CONFIRMED' } },
      payments: [{ status: 'charged' }],
      providerOperations: [{ kind: 'charge', outcome: 'succeeded' }],
      deadLetters: { rows: [{ reason: 'refused: of this order', correlationId }] },
    });
    expect(journey!.saga.transitions.at(-1)!.to).toBe('CONFIRMED');
    expect(journey!.analytics.rows.map((event) => event.eventType)).toEqual(
      expect.arrayContaining(['OrderPlaced', 'OrderConfirmed']),
    );
    expect(journey!.logs).toContain(`"correlationId":"${correlationId}"`);

    const other = await show(declined);
    expect(other).toMatchObject({
      order: { status: 'CANCELLED', cancelReason: 'payment_declined' },
      payments: [{ status: 'declined' }],
      providerOperations: [{ kind: 'charge', outcome: 'declined' }],
      deadLetters: { rows: [] },
    });

    const text = await orders(['show', confirmed]);
    expect(text.code).toBe(0);
    for (const heading of [
      `order ${confirmed}`,
      'saga order: CONFIRMED',
      'payments (1):',
      'provider (sandbox ledger, 1):',
      'analytics (duckdb',
      'dead letters (project',
      'refused: of this order',
      'logs: the terminal of `pnpm dev`',
    ]) {
      expect(text.stdout).toContain(heading);
    }
    expect(text.stdout).not.toContain('of another order');
    expect(text.stderr).toMatch(/^orders: the database at postgres:\/\/.*\*\*\*@/);
  }, 120_000);

  it('exits 1 for an order that does not exist, 2 on a usage error', async () => {
    const missing = await orders(['show', '6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('no order 6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10');
    const typo = await orders(['shwo', '6f1d0c0e-3c57-4d0a-9a52-8f3e1d2c4b10']);
    expect(typo).toMatchObject({ code: 2, stdout: '' });
    expect(typo.stderr).toMatch(
      /^orders: unknown command shwo: did you mean show\? [\s\S]*usage: pnpm orders/,
    );
    expect((await orders(['show', 'not-a-uuid'])).code).toBe(2);
    expect((await orders(['show', '--jsno'])).stderr).toContain(
      'unknown option --jsno (did you mean --json?)',
    );
  });
});
