import { readFileSync } from 'node:fs';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  isProcessAlive,
  type LocalStack,
  pullMessages,
  startLocalStack,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/messaging';

/**
 * place-order as `pnpm dev` runs it: built, served by functions-framework in its own
 * process, on the local stack. No consumer runs, so each topic's consumer subscription is a
 * pull subscription that holds what intake published.
 */
let database: TestDatabase;
let stack: LocalStack;
let pubsub: PubSub;
let url: string;

beforeAll(async () => {
  database = await testDatabase('place-order-stack');
  stack = await startLocalStack({
    projectId: testProjectId('place-order-stack'),
    functions: ['place-order'],
    env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'warn' },
  });
  url = stack.functions['place-order']!;
  pubsub = createPubSubClient({
    projectId: stack.projectId,
    emulatorHost: stack.pubsubEmulatorHost,
  });
});

afterAll(async () => {
  await pubsub?.close();
  await stack?.stop();
  await database?.close();
});

const order = { customerId: 'cust-7', currency: 'EUR', items: [{ sku: 'KETTLE-01', quantity: 1 }] };

/** `POST /orders` as cust-7, with a token of the stack's development issuer. */
async function post(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await stack.auth!.token('cust-7')}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe('place-order on the local stack', () => {
  it('accepts an order and publishes OrderPlaced to order-saga and analytics with envelope and attributes', async () => {
    const response = await post(order);
    expect(response.status).toBe(202);
    const { orderId, correlationId } = (await response.json()) as {
      orderId: string;
      correlationId: string;
    };

    for (const subscription of ['process-order', 'analytics-loader']) {
      const [message] = await pullMessages(pubsub, subscription, { count: 1 });
      expect(message?.attributes).toEqual({
        event_type: 'OrderPlaced',
        event_version: '2',
        event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        correlation_id: correlationId,
        // The trace of the request that placed it, which every later hop continues.
        googclient_traceparent: expect.stringMatching(/^00-[\da-f]{32}-[\da-f]{16}-0[01]$/),
      });
      expect(JSON.parse(message!.data.toString())).toMatchObject({
        id: message!.attributes.event_id,
        type: 'OrderPlaced',
        version: 2,
        source: 'place-order',
        correlationId,
        causationId: null,
        subject: orderId,
        data: { orderId, totalMinor: 6400, currency: 'EUR' },
      });
    }
    expect(await pullMessages(pubsub, 'payment-handler', { count: 1, timeoutMs: 500 })).toEqual([]);
  });

  it('makes one order of the same Idempotency-Key sent twice, with the same body', async () => {
    const key = `stack-${Date.now()}`;
    const first = await post(order, { 'idempotency-key': key });
    const second = await post(order, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(await second.text()).toBe(await first.text());
    expect(
      await pullMessages(pubsub, 'analytics-loader', { count: 2, timeoutMs: 1500 }),
    ).toHaveLength(1);
  });

  it('listens on 127.0.0.1 only, not on every interface as functions-framework would', () => {
    const port = Number(new URL(url).port);
    // Every listening socket of the port, from the kernel's tables: `ADDR:PORT` in hex.
    const listening = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
      readFileSync(table, 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields[3] === '0A')
        .map((fields) => fields[1]!.split(':'))
        .filter(([, hexPort]) => Number.parseInt(hexPort!, 16) === port)
        .map(([address]) => address),
    );
    expect(listening).toEqual(['0100007F']);
  });

  it('leaves no function process behind when stopped', async () => {
    const pid = stack.pids.functions['place-order']!;
    expect(isProcessAlive(pid)).toBe(true);
    await stack.stop();
    expect(isProcessAlive(pid)).toBe(false);
  });
});
