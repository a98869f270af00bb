import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEvent, type Envelope, encodeEvent } from '@orders/events';
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
import type { SandboxLedgerTables } from '@orders/payments';

/**
 * payment-handler as `pnpm dev` runs it: built, served by functions-framework in its own
 * process, fed by its push subscription on the emulator. process-order does not run, so its
 * pull subscription on `order-saga` holds what payment-handler emitted.
 */
let database: TestDatabase;
let stack: LocalStack;
let pubsub: PubSub;

beforeAll(async () => {
  database = await testDatabase('payment-handler-stack');
  stack = await startLocalStack({
    projectId: testProjectId('payment-handler-stack'),
    functions: ['payment-handler'],
    env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'warn' },
    functionEnv: () => ({ SANDBOX_LATENCY_MS: '5' }),
  });
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

describe('payment-handler on the local stack', () => {
  it('answers a charge and a decline published on topic payments, on topic order-saga', async () => {
    const requests = ['cust-1', 'nofunds-1'].map((customerId) => {
      const orderId = randomUUID();
      return createEvent(
        'PaymentRequested',
        { orderId, paymentId: `pay_${orderId}`, customerId, amountMinor: 2598, currency: 'EUR' },
        { source: 'process-order', correlationId: randomUUID(), causationId: randomUUID() },
      );
    });
    for (const request of requests)
      await pubsub.topic('payments').publishMessage(encodeEvent(request));

    const messages = await pullMessages(pubsub, 'process-order', { count: 2, timeoutMs: 20_000 });
    const answers = messages.map((message) => JSON.parse(message.data.toString()) as Envelope);
    const answerTo = (request: Envelope) => answers.find((a) => a.causationId === request.id);
    expect(answerTo(requests[0]!)).toMatchObject({
      type: 'PaymentSucceeded',
      source: 'payment-handler',
      correlationId: requests[0]!.correlationId,
      data: { paymentId: requests[0]!.data.paymentId, amountMinor: 2598 },
    });
    expect(answerTo(requests[1]!)).toMatchObject({
      type: 'PaymentFailed',
      source: 'payment-handler',
      data: { paymentId: requests[1]!.data.paymentId, reason: 'insufficient_funds' },
    });
    const ledger = await database.db
      .withTables<SandboxLedgerTables>()
      .selectFrom('sandbox_provider_operations')
      .select(['payment_id', 'outcome'])
      .orderBy('outcome', 'desc')
      .execute();
    expect(ledger).toEqual([
      { payment_id: requests[0]!.data.paymentId, outcome: 'succeeded' },
      { payment_id: requests[1]!.data.paymentId, outcome: 'declined' },
    ]);
  });

  it('leaves no function process behind when stopped', async () => {
    const pid = stack.pids.functions['payment-handler']!;
    expect(isProcessAlive(pid)).toBe(true);
    await stack.stop();
    expect(isProcessAlive(pid)).toBe(false);
  });
});
