import { randomUUID } from 'node:crypto';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pythonReferenceOrderPlaced } from '@orders/events';
import {
  createTopology,
  pullMessages,
  type ServedFunction,
  serveFunction,
  type TestDatabase,
  testDatabase,
  testProjectId,
} from '@orders/local-stack';
import { createPubSubClient } from '@orders/pubsub';

/**
 * process-order, served by functions-framework against the real database and emulator, given
 * an OrderPlaced exactly as a producer of the Python reference publishes it: no items.
 */
const projectId = testProjectId('process-order-python');
let database: TestDatabase;
let pubsub: PubSub;
let served: ServedFunction;

beforeAll(async () => {
  database = await testDatabase('process-order-python');
  const emulatorHost = process.env.PUBSUB_EMULATOR_HOST!;
  await createTopology({ emulatorHost, projectId, pushEndpoints: {} });
  pubsub = createPubSubClient({ projectId, emulatorHost });
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    GOOGLE_CLOUD_PROJECT: projectId,
    LOG_LEVEL: 'error',
  });
  require('./index');
  served = await serveFunction('processOrder', { projectId, topic: 'order-saga' });
});

afterAll(async () => {
  await served?.close();
  await pubsub?.close();
  await database?.close();
});

describe('an OrderPlaced from the Python reference producer, without items', () => {
  it('is dead-lettered once with a reason an operator can act on, and starts no saga', async () => {
    const orderId = randomUUID();
    const message = pythonReferenceOrderPlaced({
      event_id: randomUUID(),
      occurred_at: new Date(),
      correlation_id: null,
      order_id: orderId,
      customer_id: randomUUID(),
      total_amount: 10.2 * 3,
    });

    const response = await served.deliver(message);
    // Acknowledged: Pub/Sub does not deliver it again.
    expect(response.status).toBe(204);

    const dead = await pullMessages(pubsub, 'order-saga-dlq', { count: 2, timeoutMs: 1500 });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data.toString('utf8')).toBe(message.data.toString('utf8'));
    expect(dead[0]!.attributes).toMatchObject({
      ...message.attributes,
      dlq_consumer: 'process-order',
      dlq_source_topic: 'order-saga',
      dlq_reason: `OrderPlaced of order ${orderId} has no items (a v1 producer that does not send its lines): this saga cannot reserve stock or charge for it; replay it with its items (pnpm dlq replay <id> --data fixed.json)`,
    });
    const sagas = await database.db.selectFrom('sagas').select('id').where('id', '=', orderId);
    expect(await sagas.execute()).toEqual([]);
    const transitions = database.db
      .selectFrom('saga_transitions')
      .select('version')
      .where('saga_id', '=', orderId);
    expect(await transitions.execute()).toEqual([]);
  });
});
